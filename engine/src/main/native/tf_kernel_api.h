/*
 * The part of TensorFlow's stable C kernel API that llava_ops.c calls. TensorFlow Java ships the
 * runtime (libtensorflow_framework.so.2 exports these symbols) but not the headers, so the
 * declarations the op needs are listed here. They follow tensorflow/c/{tf_status,tf_tensor,
 * kernels,kernels_experimental,ops}.h of TensorFlow 2.x, whose C ABI is stable.
 */
#ifndef LLAVA_TF_KERNEL_API_H_
#define LLAVA_TF_KERNEL_API_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct TF_Status TF_Status;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_OpKernelContext TF_OpKernelContext;
typedef struct TF_OpKernelConstruction TF_OpKernelConstruction;
typedef struct TF_KernelBuilder TF_KernelBuilder;
typedef struct TF_OpDefinitionBuilder TF_OpDefinitionBuilder;
typedef struct TF_ShapeInferenceContext TF_ShapeInferenceContext;

typedef enum { TF_FLOAT_TYPE = 1, TF_INT32_TYPE = 3, TF_HALF_TYPE = 19 } LlavaTfType;
typedef enum {
  TF_OK_CODE = 0,
  TF_INVALID_ARGUMENT_CODE = 3,
  TF_RESOURCE_EXHAUSTED_CODE = 8,
  TF_INTERNAL_CODE = 13
} LlavaTfCode;

/* tf_status.h */
TF_Status* TF_NewStatus(void);
void TF_DeleteStatus(TF_Status* status);
void TF_SetStatus(TF_Status* status, int code, const char* msg);
int TF_GetCode(const TF_Status* status);

/* tf_tensor.h */
void TF_DeleteTensor(TF_Tensor* tensor);
int TF_TensorType(const TF_Tensor* tensor);
int TF_NumDims(const TF_Tensor* tensor);
int64_t TF_Dim(const TF_Tensor* tensor, int dim_index);
size_t TF_TensorByteSize(const TF_Tensor* tensor);
void* TF_TensorData(const TF_Tensor* tensor);

/* kernels.h */
TF_KernelBuilder* TF_NewKernelBuilder(
    const char* op_name, const char* device_name, void* (*create_func)(TF_OpKernelConstruction*),
    void (*compute_func)(void*, TF_OpKernelContext*), void (*delete_func)(void*));
void TF_RegisterKernelBuilder(const char* kernel_name, TF_KernelBuilder* builder,
                              TF_Status* status);
void TF_OpKernelConstruction_GetAttrInt32(TF_OpKernelConstruction* ctx, const char* attr_name,
                                          int32_t* val, TF_Status* status);
void TF_OpKernelConstruction_GetAttrFloat(TF_OpKernelConstruction* ctx, const char* attr_name,
                                          float* val, TF_Status* status);
void TF_GetInput(TF_OpKernelContext* ctx, int i, TF_Tensor** tensor, TF_Status* status);
TF_Tensor* TF_AllocateOutput(TF_OpKernelContext* context, int index, int dtype,
                             const int64_t* dims, int num_dims, size_t len, TF_Status* status);
void TF_OpKernelContext_Failure(TF_OpKernelContext* ctx, TF_Status* status);

/* kernels_experimental.h */
void TF_GetInputTensorFromVariable(
    TF_OpKernelContext* ctx, int input, bool lock_held, bool is_variant_type, bool sparse,
    void (*copy_func)(TF_OpKernelContext* ctx, TF_Tensor* source, TF_Tensor* dest),
    TF_Tensor** out, TF_Status* status);

/* ops.h */
TF_OpDefinitionBuilder* TF_NewOpDefinitionBuilder(const char* op_name);
void TF_OpDefinitionBuilderAddInput(TF_OpDefinitionBuilder* builder, const char* input_spec);
void TF_OpDefinitionBuilderAddOutput(TF_OpDefinitionBuilder* builder, const char* output_spec);
void TF_OpDefinitionBuilderAddAttr(TF_OpDefinitionBuilder* builder, const char* attr_spec);
void TF_OpDefinitionBuilderSetShapeInferenceFunction(
    TF_OpDefinitionBuilder* builder,
    void (*shape_inference_func)(TF_ShapeInferenceContext* ctx, TF_Status* status));
void TF_ShapeInferenceContextSetUnknownShape(TF_ShapeInferenceContext* ctx, TF_Status* status);
void TF_OpDefinitionBuilderSetIsStateful(TF_OpDefinitionBuilder* builder, bool is_stateful);
void TF_RegisterOpDefinition(TF_OpDefinitionBuilder* builder, TF_Status* status);

#endif /* LLAVA_TF_KERNEL_API_H_ */
