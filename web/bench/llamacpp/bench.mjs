// llama.cpp's side of the same-run comparison: loads a GGUF (written by `export-gguf`) through
// node-llama-cpp's prebuilt llama.cpp on the CPU and measures what the server's own benchmarks
// measure on the same weights: prefill of a 128-token prompt (best of 3), single-stream greedy
// decode (best of 3), and the aggregate output tokens/s of N sequences decoding at once in one
// context (llama.cpp's parallel slots). Prints one JSON object.
//
//   node bench.mjs --model FILE.gguf [--threads 2] [--parallel 4,8,16,32] [--decode-tokens 128]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

function arg(name, fallback) {
  const i = process.argv.indexOf("--" + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const modelPath = arg("model");
if (!modelPath) {
  console.error("usage: node bench.mjs --model FILE.gguf [--threads N] [--parallel 4,8,16,32]");
  process.exit(2);
}
const threads = Number(arg("threads", "2"));
const parallel = arg("parallel", "4,8,16,32").split(",").map(Number);
const decodeTokens = Number(arg("decode-tokens", "128"));
const promptTokens = Number(arg("prompt-tokens", "128"));
const parallelTokens = Number(arg("parallel-tokens", "64"));

let seed = 12345;
function randomIds(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out.push(3 + (seed % 31990));
  }
  return out;
}

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const result = {model: modelPath, threads, llamaCpp: llama.llamaCppRelease?.release ?? null};

// Prefill: a fresh sequence evaluates the prompt in one batch; the best of 3.
{
  const ctx = await model.createContext({contextSize: 1024, batchSize: 512, threads, sequences: 1});
  const seq = ctx.getSequence();
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    await seq.clearHistory();
    const ids = randomIds(promptTokens);
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    best = Math.min(best, performance.now() - t0);
  }
  result.prefillTokensPerSec = promptTokens / (best / 1000);

  // Single-stream decode: greedy, after a 16-token prompt; the first token (prefill) not counted;
  // the best of 3.
  result.decodeTokensPerSec = 0;
  for (let rep = 0; rep < 3; rep++) {
    await seq.clearHistory();
    let n = 0;
    let t1 = 0;
    for await (const _ of seq.evaluate(randomIds(16), {temperature: 0})) {
      if (n === 0) t1 = performance.now();
      if (++n > decodeTokens) break;
    }
    result.decodeTokensPerSec = Math.max(
      result.decodeTokensPerSec, decodeTokens / ((performance.now() - t1) / 1000));
  }
  await ctx.dispose();
}

// Parallel sequences of one context, as llama-server's slots: each decodes its own prompt.
result.parallel = {};
for (const p of parallel) {
  const ctx = await model.createContext({
    contextSize: p * (32 + parallelTokens + 8), batchSize: 512, threads, sequences: p});
  const seqs = Array.from({length: p}, () => ctx.getSequence());
  const t0 = performance.now();
  const counts = await Promise.all(seqs.map(async (seq) => {
    let n = 0;
    for await (const _ of seq.evaluate(randomIds(32), {temperature: 0})) {
      if (++n >= parallelTokens) break;
    }
    return n;
  }));
  const total = counts.reduce((a, b) => a + b, 0);
  result.parallel[p] = total / ((performance.now() - t0) / 1000);
  await ctx.dispose();
}
result.bestParallelTokensPerSec = Math.max(...Object.values(result.parallel));
console.log(JSON.stringify(result));
await model.dispose();
await llama.dispose();
