#!/usr/bin/env python3
"""Writes expected.json: prompts the tool-calling chat templates render (the real ones and those
written in their families' formats), with Jinja2 set up as
transformers' apply_chat_template sets it up (PreTrainedTokenizerBase._compile_jinja_template:
an ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension,
tojson as json.dumps(ensure_ascii=False, indent=..., separators=..., sort_keys=...),
raise_exception and strftime_now), and the render's arguments as it passes them: messages,
tools (None when there are none), add_generation_prompt and the special tokens.

Messages are written as this server hands them to a template that reads content as a string
(vLLM's "string" content format): content the text, None for an assistant message that only calls
tools, the calls' arguments as parsed objects, tool_call_id on tool messages.

Run from this directory with any Python 3 that has Jinja2 (written with Jinja2 3.1.6):
    python3 make_fixtures.py
It reads the templates from engine/src/main/resources/io/llavaserve/engine/checkpoint/templates.
"""
import json
import os
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(
    HERE, "..", "..", "..", "..", "..", "..", "..", "main", "resources", "io", "llavaserve", "engine",
    "checkpoint", "templates")


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city, e.g. Oslo"},
        "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {
        "tz": {"type": "string"}}}}}


def call(id, name, arguments):
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def as_template_messages(messages):
    """The dicts the server passes: arguments parsed, content None beside calls without text."""
    out = []
    for m in messages:
        d = {"role": m["role"], "content": m.get("content")}
        if m.get("tool_calls"):
            d["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["function"]["name"],
                              "arguments": json.loads(c["function"]["arguments"])}}
                for c in m["tool_calls"]]
        if m["role"] == "tool":
            d["tool_call_id"] = m["tool_call_id"]
        out.append(d)
    return out


LLAMA_TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
MISTRAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}

ROUND_TRIP_LLAMA = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "  What is the weather in Oslo?  "},
    {"role": "assistant", "content": None,
     "tool_calls": [call("call_a1", "get_weather", '{"city": "Oslo", "unit": "c"}')]},
    {"role": "tool", "tool_call_id": "call_a1", "content": '{"temp": 3, "sky": "snow"}'},
]
ROUND_TRIP_MISTRAL = [
    {"role": "user", "content": "What is the weather in Oslo and the time in UTC?"},
    {"role": "assistant", "content": None,
     "tool_calls": [call("a1B2c3D4e", "get_weather", '{"city": "Oslo"}'),
                    call("Z9y8X7w6v", "get_time", '{"tz": "utc"}')]},
    {"role": "tool", "tool_call_id": "a1B2c3D4e", "content": '{"temp": 3}'},
    {"role": "tool", "tool_call_id": "Z9y8X7w6v", "content": "12:00"},
]

ROUND_TRIP_PYTHONIC = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Weather in Oslo, and the time?"},
    {"role": "assistant", "content": None,
     "tool_calls": [call("call_a1", "get_weather", '{"city": "Oslo", "unit": "c"}'),
                    call("call_b2", "get_time", '{"tz": "utc", "exact": true, "at": null,'
                                                 ' "n": 2.5, "tags": ["a", "b"]}')]},
    {"role": "tool", "tool_call_id": "call_a1", "content": '{"temp": 3}'},
    {"role": "tool", "tool_call_id": "call_b2", "content": "12:00"},
]

CASES = [
    ("llama-3.1-instruct.jinja", "tools in the first user message", LLAMA_TOKENS,
     [{"role": "user", "content": "Weather in Oslo?"}], [WEATHER, TIME], True),
    ("llama-3.1-instruct.jinja", "a round trip through a tool's result", LLAMA_TOKENS,
     ROUND_TRIP_LLAMA, [WEATHER], True),
    ("llama-3.1-instruct.jinja", "the final answer after a result", LLAMA_TOKENS,
     ROUND_TRIP_LLAMA + [{"role": "assistant", "content": "It is 3 C and snowing."},
                         {"role": "user", "content": "Thanks!"}], [WEATHER], True),
    ("llama-3.1-instruct.jinja", "no tools", LLAMA_TOKENS,
     [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}], None, True),
    ("llama-3.1-instruct.jinja", "two calls in one message are refused", LLAMA_TOKENS,
     [{"role": "user", "content": "Both"},
      {"role": "assistant", "content": None,
       "tool_calls": [call("a", "get_weather", "{}"), call("b", "get_time", "{}")]}],
     [WEATHER, TIME], True),
    ("mistral-7b-instruct-v0.3.jinja", "tools before the last user message", MISTRAL_TOKENS,
     [{"role": "system", "content": "Answer briefly."},
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": " Hello! "},
      {"role": "user", "content": "Weather in Oslo?"}], [WEATHER, TIME], True),
    ("mistral-7b-instruct-v0.3.jinja", "parallel calls and their results", MISTRAL_TOKENS,
     ROUND_TRIP_MISTRAL, [WEATHER, TIME], True),
    ("mistral-7b-instruct-v0.3.jinja", "the final answer after the results", MISTRAL_TOKENS,
     ROUND_TRIP_MISTRAL + [{"role": "assistant", "content": "3 C at noon."}], [WEATHER, TIME],
     False),
    ("mistral-7b-instruct-v0.3.jinja", "an id that is not 9 characters is refused",
     MISTRAL_TOKENS,
     [{"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": None,
       "tool_calls": [call("call_123", "get_weather", '{"city": "Oslo"}')]}], [WEATHER], True),
    ("mistral-v11.jinja", "a system prompt and tools before the last user message",
     MISTRAL_TOKENS,
     [{"role": "system", "content": "Answer briefly."},
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "Weather in Oslo?"}], [WEATHER, TIME], True),
    ("mistral-v11.jinja", "calls after [TOOL_CALLS] and [ARGS], and their results",
     MISTRAL_TOKENS, ROUND_TRIP_MISTRAL, [WEATHER, TIME], True),
    ("mistral-v11.jinja", "no tools", MISTRAL_TOKENS,
     [{"role": "user", "content": "Hi"}], None, True),
    ("llama-3.2-pythonic.jinja", "tools in the system message", LLAMA_TOKENS,
     [{"role": "user", "content": "Weather in Oslo?"}], [WEATHER, TIME], True),
    ("llama-3.2-pythonic.jinja", "a list of calls written back, and their results",
     LLAMA_TOKENS, ROUND_TRIP_PYTHONIC, [WEATHER, TIME], True),
    ("llama-3.2-pythonic.jinja", "no tools", LLAMA_TOKENS,
     [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}], None, True),
]


def main():
    env = environment()
    cases = []
    for file, name, tokens, messages, tools, gen in CASES:
        with open(os.path.join(TEMPLATES, file), encoding="utf-8") as f:
            template = env.from_string(f.read())
        case = {"template": file, "name": name, "bos_token": tokens["bos_token"],
                "eos_token": tokens["eos_token"], "messages": messages,
                "tools": tools or [], "add_generation_prompt": gen}
        try:
            case["prompt"] = template.render(
                messages=as_template_messages(messages), tools=tools,
                add_generation_prompt=gen, **tokens)
        except TemplateError as e:
            case["error"] = e.message
        cases.append(case)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
