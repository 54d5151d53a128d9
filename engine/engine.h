/*
 * zoo engine: tensors, a Keras-style functional graph, layers, and CPU
 * inference. This header is the engine's only public door; it is installed
 * as <zoo/engine.h> and pulled in by the umbrella <zoo/zoo.h>.
 *
 * Conventions
 *  - Tensors are float32, NHWC (channels_last), C order.
 *  - Shapes include the batch axis first; -1 means "unknown" (Keras None).
 *  - Every function that can fail returns a zoo_status or NULL and leaves a
 *    message in zoo_last_error() (thread-local). The library never prints,
 *    exits or aborts on bad input.
 *  - Graph-building calls accept NULL arguments and return NULL without
 *    overwriting the first error, so a chain of calls can be checked once at
 *    the end:  x = zoo_apply(zoo_conv2d(g, &cfg), x);  ...  if (!x) fail.
 *
 * Ownership
 *  - A zoo_graph owns every layer and symbolic tensor created on it. Models
 *    keep their graph alive (reference counted): release the graph with
 *    zoo_graph_release() once its models exist, then free each model.
 *  - zoo_tensor values are owned by whoever created them, except the
 *    outputs of zoo_model_predict(), which the caller owns and frees.
 *  - Strings returned by the engine live as long as the object they name.
 */
#ifndef ZOO_ENGINE_H
#define ZOO_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZOO_MAX_RANK 6

/* ------------------------------------------------------------------ */
/* Status and errors                                                   */
/* ------------------------------------------------------------------ */

/* One list yields the enum and zoo_status_name(), so they never drift. */
#define ZOO_STATUS_LIST(X)                                                 \
    X(ZOO_OK, "ok")                                                        \
    X(ZOO_ERR_ARGUMENT, "invalid argument")                                \
    X(ZOO_ERR_SHAPE, "shape mismatch")                                     \
    X(ZOO_ERR_MEMORY, "out of memory")                                     \
    X(ZOO_ERR_IO, "input/output error")                                    \
    X(ZOO_ERR_FORMAT, "bad file format")                                   \
    X(ZOO_ERR_NOT_FOUND, "not found")                                      \
    X(ZOO_ERR_UNSUPPORTED, "unsupported")                                  \
    X(ZOO_ERR_NETWORK, "network error")                                    \
    X(ZOO_ERR_INTERNAL, "internal error")

typedef enum {
#define ZOO_STATUS_ENUM(code, text) code,
    ZOO_STATUS_LIST(ZOO_STATUS_ENUM)
#undef ZOO_STATUS_ENUM
} zoo_status;

/* Short fixed description of a status ("shape mismatch"). */
const char *zoo_status_name(zoo_status status);

/* The message of the last failure on this thread ("" if none). */
const char *zoo_last_error(void);
zoo_status zoo_last_status(void);
void zoo_clear_error(void);

/* Record a failure (for zoo's own modules and for extensions); returns
 * `status` so callers can write `return zoo_error(...)`. */
zoo_status zoo_error(zoo_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* Concrete tensors                                                    */
/* ------------------------------------------------------------------ */

typedef struct zoo_tensor zoo_tensor;

/* Zero-filled tensor; every dim must be >= 1. */
zoo_tensor *zoo_tensor_new(int rank, const int *shape);
/* Tensor holding a copy of `data` (size = product of shape). */
zoo_tensor *zoo_tensor_from(int rank, const int *shape, const float *data);
zoo_tensor *zoo_tensor_clone(const zoo_tensor *t);
void zoo_tensor_free(zoo_tensor *t);

int zoo_tensor_rank(const zoo_tensor *t);
const int *zoo_tensor_shape(const zoo_tensor *t);
size_t zoo_tensor_size(const zoo_tensor *t);
float *zoo_tensor_data(zoo_tensor *t);
const float *zoo_tensor_cdata(const zoo_tensor *t);

/* Formats a shape as Keras prints it: "(None, 7, 7, 512)". Returns buf. */
char *zoo_shape_format(int rank, const int *shape, char *buf, size_t size);

/* NumPy .npy files (format versions 1-3): little-endian float32, C order.
 * Anything else (other dtypes, Fortran order, truncation) is a clear
 * error. Saving writes a temporary file beside `path`, then renames it, so
 * a failed save never leaves a partial file under `path`. */
zoo_tensor *zoo_npy_load(const char *path);
zoo_status zoo_npy_save(const char *path, const zoo_tensor *t);

/* ------------------------------------------------------------------ */
/* Graphs, layers and symbolic tensors (the functional API)            */
/* ------------------------------------------------------------------ */

typedef struct zoo_graph zoo_graph;
typedef struct zoo_layer zoo_layer;
typedef struct zoo_sym zoo_sym; /* a symbolic tensor (Keras's KerasTensor) */
typedef struct zoo_model zoo_model;

/* `seed` drives weight initialisation of the layers built on this graph. */
zoo_graph *zoo_graph_new(unsigned long long seed);
/* Leave randomly initialised weights (kernels) at zero on layers built
 * from now on: for models whose weights are about to be loaded, which then
 * build quickly and touch no memory for kernels until the load. */
void zoo_graph_skip_random_init(zoo_graph *g, bool skip);
void zoo_graph_release(zoo_graph *g);

/* Keras's Input(shape=..., name=...): `shape` excludes the batch axis;
 * -1 marks an unknown spatial size. The last axis must be known. */
zoo_sym *zoo_input(zoo_graph *g, int rank, const int *shape, const char *name);

/* Calls a layer on one tensor (Keras: layer(x)). Calling the same layer
 * again on other tensors shares its weights. */
zoo_sym *zoo_apply(zoo_layer *layer, zoo_sym *x);
/* Calls a layer on several tensors, in order (Add, Concatenate, ...). */
zoo_sym *zoo_apply_n(zoo_layer *layer, zoo_sym *const *xs, int n);

int zoo_sym_rank(const zoo_sym *x);
const int *zoo_sym_shape(const zoo_sym *x); /* batch axis first, -1 = None */
zoo_layer *zoo_sym_layer(const zoo_sym *x);

typedef enum {
    ZOO_PAD_VALID = 0,
    ZOO_PAD_SAME, /* TensorFlow's rule: the odd pixel goes bottom/right */
} zoo_padding;

typedef enum {
    ZOO_ACT_LINEAR = 0,
    ZOO_ACT_RELU,
    ZOO_ACT_RELU6,
    ZOO_ACT_SIGMOID,
    ZOO_ACT_TANH,
    ZOO_ACT_SOFTMAX, /* over the last axis */
    ZOO_ACT_SWISH,
    ZOO_ACT_HARD_SIGMOID, /* Keras 3: relu6(x + 3) / 6 */
} zoo_activation;

/* Keras activation name ("relu", "softmax", "linear", ...) -> enum; -1 if
 * unknown. */
int zoo_activation_parse(const char *name);
const char *zoo_activation_name(zoo_activation act);

/*
 * Layer configurations. Zero-initialised fields mean Keras's defaults, so
 * designated initialisers read like the Keras call:
 *   zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 64, .kernel = {3, 3},
 *              .padding = ZOO_PAD_SAME, .activation = ZOO_ACT_RELU,
 *              .name = "block1_conv1"})
 * A NULL or empty name gets Keras's automatic one ("conv2d", "conv2d_1"...).
 * Pairs are (rows, cols); a zero stride or dilation means 1.
 */
typedef struct {
    const char *name;
    int filters;
    int kernel[2];
    int strides[2];
    int dilation[2];
    zoo_padding padding;
    zoo_activation activation;
    bool no_bias; /* Keras use_bias=False */
} zoo_conv2d_cfg;

typedef struct {
    const char *name;
    int kernel[2];
    int strides[2];
    int dilation[2];
    int depth_multiplier; /* 0 means 1 */
    zoo_padding padding;
    zoo_activation activation;
    bool no_bias;
} zoo_depthwise_conv2d_cfg;

typedef struct {
    const char *name;
    int filters;
    int kernel[2];
    int strides[2];
    int dilation[2];
    int depth_multiplier;
    zoo_padding padding;
    zoo_activation activation;
    bool no_bias;
} zoo_separable_conv2d_cfg;

typedef struct {
    const char *name;
    int units;
    zoo_activation activation;
    bool no_bias;
} zoo_dense_cfg;

typedef struct {
    const char *name;
    float epsilon;  /* 0 means Keras's 1e-3 */
    float momentum; /* 0 means Keras's 0.99 (used by training) */
    bool no_scale;  /* Keras scale=False: no gamma */
    bool no_center; /* Keras center=False: no beta */
} zoo_batch_norm_cfg;

typedef struct {
    const char *name;
    zoo_activation activation;
} zoo_activation_cfg;

typedef struct {
    const char *name;
    float max_value;      /* <= 0 means no ceiling (Keras max_value=None) */
    float negative_slope; /* slope below threshold */
    float threshold;
} zoo_relu_cfg;

typedef struct {
    const char *name;
    int pool[2];    /* 0 means 2 */
    int strides[2]; /* 0 means the pool size (Keras strides=None) */
    zoo_padding padding;
} zoo_pool2d_cfg;

typedef struct {
    const char *name;
    bool keepdims;
} zoo_global_pool2d_cfg;

typedef struct {
    const char *name;
    int pad[4]; /* top, bottom, left, right; all zero means Keras's 1 each */
} zoo_padding2d_cfg;

typedef struct {
    const char *name;
    int crop[4]; /* top, bottom, left, right */
} zoo_cropping2d_cfg;

typedef struct {
    const char *name;
    int rank;                  /* target rank, batch axis excluded */
    int shape[ZOO_MAX_RANK - 1]; /* one entry may be -1 (inferred) */
} zoo_reshape_cfg;

typedef struct {
    const char *name;
    int axis; /* 0 means -1 (last); negative counts from the end */
} zoo_concat_cfg;

typedef struct {
    const char *name;
    float rate;
    unsigned long long seed;
} zoo_dropout_cfg;

typedef struct {
    const char *name;
    float scale; /* out = inputs[0] + scale * inputs[1] */
} zoo_scaled_sum_cfg;

/* Only `name` is read: for layers configured by nothing else. */
typedef struct {
    const char *name;
} zoo_named_cfg;

/* Layer constructors. Each returns a layer owned by `g`, or NULL. `cfg`
 * may be NULL where every field has a default. */
zoo_layer *zoo_conv2d(zoo_graph *g, const zoo_conv2d_cfg *cfg);
zoo_layer *zoo_depthwise_conv2d(zoo_graph *g, const zoo_depthwise_conv2d_cfg *cfg);
zoo_layer *zoo_separable_conv2d(zoo_graph *g, const zoo_separable_conv2d_cfg *cfg);
zoo_layer *zoo_dense(zoo_graph *g, const zoo_dense_cfg *cfg);
zoo_layer *zoo_batch_norm(zoo_graph *g, const zoo_batch_norm_cfg *cfg);
zoo_layer *zoo_activation_layer(zoo_graph *g, const zoo_activation_cfg *cfg);
zoo_layer *zoo_relu(zoo_graph *g, const zoo_relu_cfg *cfg);
zoo_layer *zoo_max_pool2d(zoo_graph *g, const zoo_pool2d_cfg *cfg);
zoo_layer *zoo_avg_pool2d(zoo_graph *g, const zoo_pool2d_cfg *cfg);
zoo_layer *zoo_global_avg_pool2d(zoo_graph *g, const zoo_global_pool2d_cfg *cfg);
zoo_layer *zoo_global_max_pool2d(zoo_graph *g, const zoo_global_pool2d_cfg *cfg);
zoo_layer *zoo_zero_padding2d(zoo_graph *g, const zoo_padding2d_cfg *cfg);
zoo_layer *zoo_cropping2d(zoo_graph *g, const zoo_cropping2d_cfg *cfg);
zoo_layer *zoo_flatten(zoo_graph *g, const zoo_named_cfg *cfg);
zoo_layer *zoo_reshape(zoo_graph *g, const zoo_reshape_cfg *cfg);
zoo_layer *zoo_dropout(zoo_graph *g, const zoo_dropout_cfg *cfg);
zoo_layer *zoo_add(zoo_graph *g, const zoo_named_cfg *cfg);
zoo_layer *zoo_multiply(zoo_graph *g, const zoo_named_cfg *cfg);
zoo_layer *zoo_concatenate(zoo_graph *g, const zoo_concat_cfg *cfg);
zoo_layer *zoo_scaled_sum(zoo_graph *g, const zoo_scaled_sum_cfg *cfg);

/* Layer introspection. */
const char *zoo_layer_name(const zoo_layer *l);
const char *zoo_layer_class(const zoo_layer *l); /* Keras class: "Conv2D" */
bool zoo_layer_trainable(const zoo_layer *l);
void zoo_layer_set_trainable(zoo_layer *l, bool trainable);
/* Weights, in Keras's legacy order (trainable then non-trainable, as
 * created): Conv2D kernel, bias; BN gamma, beta, moving_mean,
 * moving_variance. They exist once the layer has been called. */
int zoo_layer_weight_count(const zoo_layer *l);
zoo_tensor *zoo_layer_weight(zoo_layer *l, int i);
const char *zoo_layer_weight_name(const zoo_layer *l, int i); /* "kernel" */
bool zoo_layer_weight_trainable(const zoo_layer *l, int i);
size_t zoo_layer_param_count(const zoo_layer *l);
/* Redraws the layer's weights from their initialisers (Glorot uniform
 * kernels, zero biases, BN ones/zeros) with a generator seeded by `seed`
 * alone, so the result depends on nothing else (not on the graph's seed or
 * on layers built before it). */
zoo_status zoo_layer_initialize(zoo_layer *l, unsigned long long seed);
/* Keras kernel_regularizer=L2(l2): adds l2 * sum(kernel^2) to the training
 * loss (Conv2D, DepthwiseConv2D, SeparableConv2D (both kernels), Dense).
 * 0 removes it. */
zoo_status zoo_layer_set_kernel_l2(zoo_layer *l, float l2);
float zoo_layer_kernel_l2(const zoo_layer *l);
/* Output of the layer's i-th call (Keras layer.output is call 0). */
zoo_sym *zoo_layer_output(const zoo_layer *l, int call);

/* ------------------------------------------------------------------ */
/* Models                                                              */
/* ------------------------------------------------------------------ */

/* A Functional model from inputs to outputs (Keras Model(inputs,
 * outputs)). Any symbolic tensors of the graph will do, so a sub-model
 * cut at an inner layer (feature extraction) shares the weights. */
zoo_model *zoo_model_new(zoo_sym *const *inputs, int n_inputs,
                         zoo_sym *const *outputs, int n_outputs,
                         const char *name);
/* Sequential sugar: an input of `shape` (batch excluded) through `layers`
 * in order. As in Keras, its layer list omits the InputLayer. */
zoo_model *zoo_sequential(zoo_graph *g, int rank, const int *shape,
                          zoo_layer *const *layers, int n_layers,
                          const char *name);
void zoo_model_free(zoo_model *m);

const char *zoo_model_name(const zoo_model *m);
zoo_graph *zoo_model_graph(const zoo_model *m);
/* model.layers, in Keras's order for Functional models (which is the
 * order Keras pairs layers with an .h5 file's weights). */
int zoo_model_layer_count(const zoo_model *m);
zoo_layer *zoo_model_layer(const zoo_model *m, int i);
zoo_layer *zoo_model_get_layer(const zoo_model *m, const char *name);
int zoo_model_input_count(const zoo_model *m);
zoo_sym *zoo_model_input(const zoo_model *m, int i);
int zoo_model_output_count(const zoo_model *m);
zoo_sym *zoo_model_output(const zoo_model *m, int i);

/* Parameter counts over model.layers (each shared layer counted once). */
size_t zoo_model_param_count(const zoo_model *m);
size_t zoo_model_trainable_param_count(const zoo_model *m);

/* Keras-style table: Layer (type), Output Shape, Param #, Connected to,
 * then Total / Trainable / Non-trainable params. */
zoo_status zoo_model_summary(const zoo_model *m, FILE *out);

/* The model as Keras's model.get_config() JSON ({"class_name": "Functional", "config": {...}}) — layer classes, configs, inbound nodes, inputs and outputs — as a malloc'd string the caller frees; NULL on failure. */
char *zoo_model_to_json(const zoo_model *m);

typedef struct {
    int threads;    /* 0: $ZOO_NUM_THREADS, else the number of cores */
    int batch_size; /* 0: whole input at once */
} zoo_predict_opts;

/* Runs the model forward (inference mode). `inputs` are NHWC tensors whose
 * shapes match the model's inputs except for unknown (-1) axes; the batch
 * axis is free. On success `outputs[i]` receive new tensors the caller
 * frees. On failure no output is returned. */
zoo_status zoo_model_predict(zoo_model *m, zoo_tensor *const *inputs,
                             int n_inputs, zoo_tensor **outputs,
                             int n_outputs, const zoo_predict_opts *opts);

/* ------------------------------------------------------------------ */
/* Keras HDF5 weights                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    bool by_name;       /* pair file layers with model layers by name,
                           not by Keras's order of weighted layers */
    bool skip_mismatch; /* skip layers/weights whose count or shape differ
                           instead of failing */
} zoo_load_opts;

/* Loads weights from a Keras .h5 file: the save_weights layout (root
 * `layer_names`) or a full-model file (its `model_weights` group). By
 * default layers are paired as Keras's load_weights does, in model.layers
 * order among layers that have weights. Every count, type and shape is
 * checked before any weight changes, so such a failure leaves the model
 * as it was; only a file whose data region is damaged can fail midway
 * (the message then says the weights are partly loaded). Weights are read
 * straight into the model: no second copy in memory. `opts` may be NULL. */
zoo_status zoo_model_load_weights(zoo_model *m, const char *path,
                                  const zoo_load_opts *opts);
/* Writes the legacy save_weights layout, which Keras's load_weights
 * reads: temporary file, then rename. */
zoo_status zoo_model_save_weights(const zoo_model *m, const char *path);

/* ------------------------------------------------------------------ */
/* Freezing                                                            */
/* ------------------------------------------------------------------ */

/* model.trainable = value: sets every layer of model.layers. */
void zoo_model_set_trainable(zoo_model *m, bool trainable);
/* Freezes model.layers before the layer named `name` and makes that layer
 * and every later one trainable (Keras's layers[:i] / layers[i:] recipe;
 * "from L" includes L). Unknown name: ZOO_ERR_NOT_FOUND, nothing changed. */
zoo_status zoo_model_unfreeze_from(zoo_model *m, const char *name);

/* ------------------------------------------------------------------ */
/* Losses and metrics                                                  */
/* ------------------------------------------------------------------ */

typedef enum {
    ZOO_LOSS_CATEGORICAL_CROSSENTROPY = 0,
    ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
    ZOO_LOSS_BINARY_CROSSENTROPY,
    ZOO_LOSS_MEAN_SQUARED_ERROR,
    ZOO_LOSS_MEAN_ABSOLUTE_ERROR,
} zoo_loss_kind;

typedef struct {
    zoo_loss_kind kind;
    bool from_logits;      /* predictions are logits, not probabilities */
    float label_smoothing; /* categorical and binary cross-entropy */
} zoo_loss;

/* Keras names: "categorical_crossentropy", "sparse_categorical_crossentropy",
 * "binary_crossentropy", "mean_squared_error" (also "mse"),
 * "mean_absolute_error" ("mae"). Parse returns -1 if unknown. */
const char *zoo_loss_name(zoo_loss_kind kind);
int zoo_loss_parse(const char *name);

/* The batch loss as Keras computes it ("sum_over_batch_size": the mean of
 * the per-sample losses over the batch's actual size) for predictions
 * y_pred (batch, ..., classes) against y_true: the same shape, or for the
 * sparse loss class indices stored as floats, shape (batch,) or (batch, 1).
 * Probabilities are renormalised and clipped to [1e-7, 1 - 1e-7] as in
 * Keras. If `grad` is not NULL it is overwritten with dLoss/dy_pred (the
 * shape of y_pred). */
zoo_status zoo_loss_compute(const zoo_loss *loss, const zoo_tensor *y_pred,
                            const zoo_tensor *y_true, double *value,
                            zoo_tensor *grad);

typedef enum {
    ZOO_METRIC_ACCURACY = 0,   /* Keras "accuracy": categorical, sparse or
                                  binary (threshold 0.5) as the loss implies */
    ZOO_METRIC_TOP_K_ACCURACY, /* Keras top_k_categorical_accuracy */
} zoo_metric_kind;

typedef struct {
    zoo_metric_kind kind;
    int k; /* top-k: 0 means Keras's 5 */
} zoo_metric;

/* The history key Keras uses: "accuracy"; "top_k_categorical_accuracy"
 * ("sparse_top_k_categorical_accuracy" with the sparse loss). */
const char *zoo_metric_name(const zoo_metric *metric, zoo_loss_kind loss);
/* Adds to *correct the number of samples of the batch the metric counts
 * as right (labels as zoo_loss_compute takes them for `loss`). */
zoo_status zoo_metric_count(const zoo_metric *metric, zoo_loss_kind loss,
                            const zoo_tensor *y_pred, const zoo_tensor *y_true,
                            double *correct);

/* ------------------------------------------------------------------ */
/* Optimizers                                                          */
/* ------------------------------------------------------------------ */

typedef enum {
    ZOO_OPT_SGD = 0,
    ZOO_OPT_RMSPROP,
    ZOO_OPT_ADAM,
    ZOO_OPT_ADAMW,
} zoo_optimizer_kind;

/* Learning-rate schedules, evaluated at the optimizer's step count before
 * the update (0 on the first batch), as Keras's LearningRateSchedule. */
typedef enum {
    ZOO_SCHEDULE_CONSTANT = 0,
    ZOO_SCHEDULE_STEP,        /* lr * decay_rate ^ floor(step / decay_steps) */
    ZOO_SCHEDULE_EXPONENTIAL, /* Keras ExponentialDecay (staircase option) */
    ZOO_SCHEDULE_COSINE,      /* Keras CosineDecay(decay_steps, alpha) */
} zoo_schedule_kind;

typedef struct {
    zoo_schedule_kind kind;
    int decay_steps;
    float decay_rate;
    bool staircase;
    float alpha; /* cosine: the floor as a fraction of the initial rate */
} zoo_lr_schedule;

/* Zero fields mean Keras 3's defaults: learning_rate 0.01 (SGD) or 0.001,
 * momentum 0, rho 0.9, beta_1 0.9, beta_2 0.999, epsilon 1e-7, weight
 * decay none (AdamW: 0.004), no clipping, constant rate. */
typedef struct {
    zoo_optimizer_kind kind;
    float learning_rate;
    float momentum;  /* SGD, RMSprop */
    bool nesterov;   /* SGD */
    float rho;       /* RMSprop */
    bool centered;   /* RMSprop */
    float beta_1, beta_2;
    float epsilon;
    bool amsgrad;    /* Adam, AdamW */
    float weight_decay; /* decoupled: w -= w * weight_decay * lr */
    float clipnorm;        /* per-variable norm clip */
    float clipvalue;       /* elementwise clip */
    float global_clipnorm; /* clip over all variables together */
    zoo_lr_schedule schedule;
} zoo_optimizer_cfg;

/* "sgd" "rmsprop" "adam" "adamw" (-1 if unknown). */
const char *zoo_optimizer_name(zoo_optimizer_kind kind);
int zoo_optimizer_parse(const char *name);

typedef struct zoo_optimizer zoo_optimizer;
zoo_optimizer *zoo_optimizer_new(const zoo_optimizer_cfg *cfg);
void zoo_optimizer_free(zoo_optimizer *o);
/* One step over n variables: clip, weight decay, update. Slot state
 * (momenta) is kept per position, so pass the same variables in the same
 * order every step. The step count starts at 1 on the first call. */
zoo_status zoo_optimizer_apply(zoo_optimizer *o, zoo_tensor *const *vars,
                               const zoo_tensor *const *grads, int n);
/* Steps taken so far (Keras's optimizer.iterations). */
long long zoo_optimizer_iterations(const zoo_optimizer *o);
/* The rate the next step will use (schedule and any scaling applied). */
double zoo_optimizer_learning_rate(const zoo_optimizer *o);
/* Multiplies every future rate by `factor` (ReduceLROnPlateau). */
void zoo_optimizer_scale_learning_rate(zoo_optimizer *o, double factor);

/* ------------------------------------------------------------------ */
/* Datasets                                                            */
/* ------------------------------------------------------------------ */

/* Per-load options handed to a dataset by the training loop. */
typedef struct {
    bool augment;            /* training batch with augmentation asked */
    unsigned long long seed; /* distinct per batch and epoch */
} zoo_load_ctx;

/* A source of (x, y) samples, streamed batch by batch. Anyone may fill
 * one (the image-folder dataset in <zoo/preprocess.h> does); `release`
 * frees `ctx` when the dataset is freed. */
typedef struct zoo_dataset {
    int count;                       /* samples */
    int x_rank;                      /* one sample, batch axis excluded */
    int x_shape[ZOO_MAX_RANK - 1];
    int y_rank;
    int y_shape[ZOO_MAX_RANK - 1];
    void *ctx;
    /* Writes samples idx[0..n) into x and y (rows of the shapes above).
     * A sample that cannot be read may be dropped: rows are packed at the
     * front and *kept says how many were written. An error stops training. */
    zoo_status (*load)(void *ctx, const int *idx, int n, float *x, float *y,
                       int *kept, const zoo_load_ctx *lc);
    void (*release)(void *ctx);
} zoo_dataset;

/* In-memory samples: x (count, ...) and y (count, ...); copies them. */
zoo_dataset *zoo_dataset_from_tensors(const zoo_tensor *x, const zoo_tensor *y);
/* Samples [start, start + count) of `d`, which must outlive the slice. */
zoo_dataset *zoo_dataset_slice(zoo_dataset *d, int start, int count);
/* Samples indices[0..count) of `d`, in that order (the indices are
 * copied; `d` must outlive the subset). */
zoo_dataset *zoo_dataset_subset(zoo_dataset *d, const int *indices, int count);
void zoo_dataset_free(zoo_dataset *d);

/* ------------------------------------------------------------------ */
/* compile / fit / evaluate                                            */
/* ------------------------------------------------------------------ */

#define ZOO_MAX_METRICS 4

typedef struct {
    zoo_loss loss;
    zoo_optimizer_cfg optimizer;
    zoo_metric metrics[ZOO_MAX_METRICS];
    int n_metrics;
} zoo_compile_opts;

/* Keras's compile: sets the loss, metrics and a fresh optimizer (and reads
 * which layers are trainable, as Keras's compile does). The model must
 * have one input and one output. */
zoo_status zoo_model_compile(zoo_model *m, const zoo_compile_opts *opts);

typedef struct zoo_history zoo_history;

/* Keras's monitor values: "loss", "val_loss", "accuracy", "val_accuracy",
 * ...; modes follow Keras's "auto" (accuracy-like: max, else min). */
typedef struct {
    bool enabled;
    const char *monitor;  /* NULL: "val_loss" */
    float min_delta;
    int patience;
    bool restore_best_weights;
} zoo_early_stopping;

typedef struct {
    bool enabled;
    const char *path;     /* .h5 full model, written atomically */
    const char *monitor;  /* NULL: "val_loss" */
    bool save_best_only;
} zoo_checkpoint;

typedef struct {
    bool enabled;
    const char *monitor;  /* NULL: "val_loss" */
    float factor;         /* 0: 0.1 */
    int patience;         /* 0: 10 */
    float min_delta;      /* 0: 1e-4 */
    int cooldown;
    float min_lr;
} zoo_reduce_lr;

typedef struct {
    int epochs;              /* literal: 0 trains nothing */
    int batch_size;          /* 0: 32 */
    bool no_shuffle;         /* Keras shuffles each epoch by default */
    unsigned long long seed; /* shuffling, dropout and augmentation */
    bool augment;            /* ask the dataset for augmented training samples */
    float validation_split;  /* hold out the last fraction (before shuffling) */
    zoo_dataset *validation_data; /* used instead of a split when set */
    int verbose;             /* 0 quiet (default), 1 progress bar on a
                                terminal, 2 one line per epoch */
    FILE *log;               /* where progress goes; NULL: stdout */
    int threads;             /* 0: zoo_default_threads() */
    zoo_early_stopping early_stopping;
    zoo_checkpoint checkpoint;
    zoo_reduce_lr reduce_lr;
    const char *csv_path;    /* CSVLogger: epoch,<keys...> written per epoch */
    /* Called after each epoch (epoch counts from 0); return false to stop. */
    bool (*on_epoch_end)(int epoch, const zoo_history *h, void *user);
    void *user;
} zoo_fit_opts;

/* Trains a compiled model (Keras fit). Returns ZOO_OK when the epochs ran
 * or a callback stopped them; on failure (for example a NaN loss, named
 * with its epoch and batch) the error is set. Either way *history, if not
 * NULL, receives the epochs that completed (free with zoo_history_free). */
zoo_status zoo_model_fit(zoo_model *m, zoo_dataset *train,
                         const zoo_fit_opts *opts, zoo_history **history);

/* Loss and metrics of a compiled model over a dataset in inference mode
 * (metrics[i] in compile order; either pointer may be NULL). */
zoo_status zoo_model_evaluate(zoo_model *m, zoo_dataset *data, int batch_size,
                              int threads, double *loss, double *metrics);

/* One optimizer step on one batch (Keras train_on_batch); loss and
 * metrics of that batch before the step (either may be NULL). */
zoo_status zoo_model_train_on_batch(zoo_model *m, const zoo_tensor *x,
                                    const zoo_tensor *y, int threads,
                                    double *loss, double *metrics);

/* History: per-epoch values under Keras's keys ("loss", "accuracy",
 * "val_loss", "val_accuracy", "learning_rate"). */
int zoo_history_epochs(const zoo_history *h);
int zoo_history_key_count(const zoo_history *h);
const char *zoo_history_key(const zoo_history *h, int i);
/* Value of `key` after epoch `epoch`; NAN if absent. */
double zoo_history_get(const zoo_history *h, const char *key, int epoch);
/* CSV as Keras's CSVLogger writes it: "epoch,<keys sorted>" then rows. */
zoo_status zoo_history_save_csv(const zoo_history *h, const char *path);
void zoo_history_free(zoo_history *h);

/* ------------------------------------------------------------------ */
/* Whole models in one file, with what travels with them               */
/* ------------------------------------------------------------------ */

/* Class names (for a classifier's output units) and free-form string
 * attributes (zoo uses "preprocess" and "base_model") kept with the model
 * and saved in its .h5. Strings are copied. */
zoo_status zoo_model_set_class_names(zoo_model *m, const char *const *names, int n);
int zoo_model_class_name_count(const zoo_model *m);
const char *zoo_model_class_name(const zoo_model *m, int i);
zoo_status zoo_model_set_attr(zoo_model *m, const char *key, const char *value);
const char *zoo_model_attr(const zoo_model *m, const char *key); /* NULL if unset */

/* Keras's model.save("x.h5"): root attribute `model_config` (the JSON of
 * zoo_model_to_json), `keras_version`, `backend`, group `model_weights` in
 * the save_weights layout; class names and attributes as extra root
 * attributes Keras ignores. Temporary file, then rename. */
zoo_status zoo_model_save(const zoo_model *m, const char *path);
/* Rebuilds a model from a full-model .h5 (Keras 3 or tf.keras 2 config
 * JSON: Functional/Model or Sequential of the layer classes zoo knows) and
 * loads its weights, class names and attributes. */
zoo_model *zoo_model_load(const char *path);
/* The model a Keras model_config JSON describes, weights initialised from
 * `seed` (Keras's model_from_json). */
zoo_model *zoo_model_from_json(const char *json, unsigned long long seed);

/* Threads used when opts->threads is 0: $ZOO_NUM_THREADS if set and valid,
 * else the number of online cores. */
int zoo_default_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* ZOO_ENGINE_H */
