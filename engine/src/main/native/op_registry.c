#include "op_registry.h"

#include <stdio.h>
#include <stdlib.h>

#include "parallel.h"

static void unknown_shape(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeInferenceContextSetUnknownShape(ctx, status);
}

void llava_register_op(const LlavaOpSpec* spec) {
  TF_Status* status = TF_NewStatus();
  TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder(spec->name);
  for (int i = 0; i < spec->n_inputs; i++) {
    TF_OpDefinitionBuilderAddInput(op, spec->inputs[i]);
  }
  for (int i = 0; i < spec->n_outputs; i++) {
    TF_OpDefinitionBuilderAddOutput(op, spec->outputs[i]);
  }
  TF_OpDefinitionBuilderAddAttr(op, "num_threads: int = 1");
  for (int i = 0; i < spec->n_attrs; i++) {
    TF_OpDefinitionBuilderAddAttr(op, spec->attrs[i]);
  }
  if (spec->stateful) {
    TF_OpDefinitionBuilderSetIsStateful(op, true);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, unknown_shape);
  TF_RegisterOpDefinition(op, status);
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_KernelBuilder* kb =
        TF_NewKernelBuilder(spec->name, "CPU", spec->create, spec->compute, spec->destroy);
    TF_RegisterKernelBuilder(spec->name, kb, status);
  }
  if (TF_GetCode(status) != TF_OK_CODE) {
    fprintf(stderr, "%s: registration failed (code %d)\n", spec->name, TF_GetCode(status));
  }
  TF_DeleteStatus(status);
}

void llava_fail(TF_OpKernelContext* ctx, TF_Status* status, int code, const char* msg) {
  TF_SetStatus(status, code, msg);
  TF_OpKernelContext_Failure(ctx, status);
}

int32_t llava_num_threads(TF_OpKernelConstruction* ctx) {
  TF_Status* status = TF_NewStatus();
  int32_t n = 1;
  TF_OpKernelConstruction_GetAttrInt32(ctx, "num_threads", &n, status);
  if (TF_GetCode(status) != TF_OK_CODE || n < 1) {
    n = 1;
  }
  TF_DeleteStatus(status);
  return n > LLAVA_MAX_THREADS ? LLAVA_MAX_THREADS : n;
}

void* llava_matmul_attrs_create(TF_OpKernelConstruction* ctx) {
  LlavaMatMulAttrs* k = calloc(1, sizeof(LlavaMatMulAttrs));
  TF_Status* status = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrInt32(ctx, "n", &k->n, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    k->n = -1;
  }
  k->num_threads = llava_num_threads(ctx);
  TF_OpKernelConstruction_GetAttrInt32(ctx, "path", &k->path, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    k->path = -1;
  }
  TF_DeleteStatus(status);
  return k;
}
