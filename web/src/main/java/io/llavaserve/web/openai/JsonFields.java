package io.llavaserve.web.openai;

import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** Typed reads of optional request fields; a value of the wrong type is a 400 naming the field. */
final class JsonFields {

  private JsonFields() {}

  static Double number(JsonObject o, String field) {
    Object v = o.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Number n)) {
      throw wrongType(field, "a number", v);
    }
    return n.doubleValue();
  }

  static Long integer(JsonObject o, String field) {
    Object v = o.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
      throw wrongType(field, "an integer", v);
    }
    return n.longValue();
  }

  static Integer int32(JsonObject o, String field) {
    Long v = integer(o, field);
    if (v == null) {
      return null;
    }
    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
      throw ApiError.badRequest(field, field + " is out of range, got " + v);
    }
    return v.intValue();
  }

  static Boolean bool(JsonObject o, String field) {
    Object v = o.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Boolean b)) {
      throw wrongType(field, "true or false", v);
    }
    return b;
  }

  static String string(JsonObject o, String field, String param) {
    Object v = o.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof String s)) {
      throw wrongType(param, "a string", v);
    }
    return s;
  }

  static JsonObject object(JsonObject o, String field, String param) {
    Object v = o.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof JsonObject j)) {
      throw wrongType(param, "an object", v);
    }
    return j;
  }

  static ApiError wrongType(String param, String expected, Object got) {
    return ApiError.badRequest(param, param + " must be " + expected + ", got " + describe(got));
  }

  static String describe(Object v) {
    if (v instanceof JsonObject) {
      return "an object";
    }
    if (v instanceof JsonArray) {
      return "an array";
    }
    if (v instanceof String) {
      return "a string";
    }
    return String.valueOf(v);
  }
}
