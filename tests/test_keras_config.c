/*
 * zoo_model_to_json: Keras 3's model.get_config() format, parsed back with
 * jansson and checked key by key against what Keras writes
 * (keras/src/models/functional.py get_config / serialize_node, each
 * layer's get_config): the layer list in model.layers order, configs with
 * Keras's names and value formats, inbound nodes as __keras_tensor__
 * arguments (a list of tensors for merge layers), node indices re-counted
 * per model, input_layers / output_layers.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <zoo/zoo.h>

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* The model's JSON, parsed; the raw text in *text if asked (caller frees). */
static json_t *config_or_die(const zoo_model *m, char **text)
{
    char *s = zoo_model_to_json(m);
    cr_assert_not_null(s, "zoo_model_to_json failed: %s", zoo_last_error());
    json_error_t err;
    json_t *root = json_loads(s, 0, &err);
    cr_assert_not_null(root, "output is not JSON (line %d: %s): %.200s",
                       err.line, err.text, s);
    if (text)
        *text = s;
    else
        free(s);
    return root;
}

static json_t *get_or_die(const json_t *obj, const char *key)
{
    cr_assert(json_is_object(obj), "not an object where '%s' was wanted", key);
    json_t *v = json_object_get(obj, key);
    cr_assert_not_null(v, "key '%s' is missing", key);
    return v;
}

static const char *str_of(const json_t *obj, const char *key)
{
    json_t *v = get_or_die(obj, key);
    cr_assert(json_is_string(v), "'%s' is not a string", key);
    return json_string_value(v);
}

static json_int_t int_of(const json_t *obj, const char *key)
{
    json_t *v = get_or_die(obj, key);
    cr_assert(json_is_integer(v), "'%s' is not an integer", key);
    return json_integer_value(v);
}

static double real_of(const json_t *obj, const char *key)
{
    json_t *v = get_or_die(obj, key);
    cr_assert(json_is_real(v), "'%s' is not a float (Keras writes a Python float)", key);
    return json_real_value(v);
}

static bool bool_of(const json_t *obj, const char *key)
{
    json_t *v = get_or_die(obj, key);
    cr_assert(json_is_boolean(v), "'%s' is not a boolean", key);
    return json_is_true(v);
}

/* `v` is a JSON array of exactly these ints (-1 stands for null). */
static void expect_ints(const json_t *v, const int *want, size_t n,
                        const char *what)
{
    cr_assert(json_is_array(v), "%s is not a list", what);
    cr_assert_eq(json_array_size(v), n, "%s has %zu entries, want %zu", what,
                 json_array_size(v), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (want[i] < 0)
            cr_expect(json_is_null(e), "%s[%zu] should be null", what, i);
        else
            cr_expect(json_is_integer(e) && json_integer_value(e) == want[i],
                      "%s[%zu] should be %d", what, i, want[i]);
    }
}

#define EXPECT_INTS(v, what, ...)                                            \
    do {                                                                     \
        const int w_[] = {__VA_ARGS__};                                      \
        expect_ints((v), w_, sizeof w_ / sizeof w_[0], (what));              \
    } while (0)

/* The entry of config.layers named `name`, and its index in *index. */
static json_t *layer_entry(const json_t *root, const char *name, int *index)
{
    json_t *layers = get_or_die(get_or_die(root, "config"), "layers");
    size_t i;
    json_t *e;
    json_array_foreach(layers, i, e) {
        if (strcmp(str_of(e, "name"), name) == 0) {
            if (index)
                *index = (int)i;
            return e;
        }
    }
    cr_assert_fail("no layer '%s' in config.layers", name);
    return NULL;
}

/* A __keras_tensor__ argument: its keras_history and shape. */
static void expect_tensor(const json_t *t, const char *layer, int node,
                          const int *shape, int rank)
{
    cr_assert_str_eq(str_of(t, "class_name"), "__keras_tensor__");
    json_t *cfg = get_or_die(t, "config");
    cr_expect_str_eq(str_of(cfg, "dtype"), "float32");
    expect_ints(get_or_die(cfg, "shape"), shape, (size_t)rank, "tensor shape");
    json_t *h = get_or_die(cfg, "keras_history");
    cr_assert(json_is_array(h) && json_array_size(h) == 3,
              "keras_history is not [layer, node, tensor]");
    cr_expect_str_eq(json_string_value(json_array_get(h, 0)), layer,
                     "keras_history names %s, want %s",
                     json_string_value(json_array_get(h, 0)), layer);
    cr_expect_eq(json_integer_value(json_array_get(h, 1)), node,
                 "keras_history of %s: node %lld, want %d", layer,
                 (long long)json_integer_value(json_array_get(h, 1)), node);
    cr_expect_eq(json_integer_value(json_array_get(h, 2)), 0);
}

/* The args of node `k` of a layer entry (after checking the node shape). */
static json_t *node_args(const json_t *entry, size_t k)
{
    json_t *nodes = get_or_die(entry, "inbound_nodes");
    cr_assert(json_is_array(nodes) && k < json_array_size(nodes),
              "%s has %zu inbound nodes, wanted node %zu", str_of(entry, "name"),
              json_array_size(nodes), k);
    json_t *node = json_array_get(nodes, k);
    json_t *kwargs = get_or_die(node, "kwargs");
    cr_expect(json_is_object(kwargs) && json_object_size(kwargs) == 0,
              "kwargs should be {}");
    json_t *args = get_or_die(node, "args");
    cr_assert(json_is_array(args), "args is not a list");
    return args;
}

/* [[name, node, 0], ...] */
static void expect_triples(const json_t *v, const char *const *names,
                           const int *nodes, size_t n, const char *what)
{
    cr_assert(json_is_array(v) && json_array_size(v) == n,
              "%s should list %zu tensors", what, n);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(v, i);
        cr_assert(json_is_array(t) && json_array_size(t) == 3,
                  "%s[%zu] is not [layer, node, tensor]", what, i);
        cr_expect_str_eq(json_string_value(json_array_get(t, 0)), names[i]);
        cr_expect_eq(json_integer_value(json_array_get(t, 1)), nodes[i]);
        cr_expect_eq(json_integer_value(json_array_get(t, 2)), 0);
    }
}

/* Every entry: Keras's keys, config.name == name, class as the engine
 * says, and in model.layers order; every tensor an earlier layer's. */
static void expect_layer_list(const json_t *root, const zoo_model *m)
{
    json_t *layers = get_or_die(get_or_die(root, "config"), "layers");
    cr_assert(json_is_array(layers));
    cr_assert_eq((int)json_array_size(layers), zoo_model_layer_count(m),
                 "config.layers has %zu entries, model.layers %d",
                 json_array_size(layers), zoo_model_layer_count(m));
    size_t i;
    json_t *e;
    json_array_foreach(layers, i, e) {
        const zoo_layer *l = zoo_model_layer(m, (int)i);
        const char *name = str_of(e, "name");
        cr_expect_str_eq(name, zoo_layer_name(l), "layers[%zu] is %s, want %s",
                         i, name, zoo_layer_name(l));
        cr_expect_str_eq(str_of(e, "class_name"), zoo_layer_class(l));
        const char *module = str_of(e, "module");
        if (strcmp(zoo_layer_class(l), "CustomScaleLayer") != 0)
            cr_expect_str_eq(module, "keras.layers");
        json_t *cfg = get_or_die(e, "config");
        cr_expect_str_eq(str_of(cfg, "name"), name);
        if (strcmp(zoo_layer_class(l), "InputLayer") == 0) {
            cr_expect_eq(json_array_size(get_or_die(e, "inbound_nodes")), 0,
                         "an InputLayer has no inbound nodes");
            continue;
        }
        cr_expect_str_eq(str_of(cfg, "dtype"), "float32");
        cr_expect_eq(bool_of(cfg, "trainable"), zoo_layer_trainable(l));
        /* Tensors refer to layers listed before this one. */
        json_t *nodes = get_or_die(e, "inbound_nodes");
        size_t k;
        json_t *node;
        json_array_foreach(nodes, k, node) {
            json_t *args = get_or_die(node, "args");
            json_t *ts = json_array_get(args, 0);
            if (!json_is_array(ts))
                ts = args;
            size_t t;
            json_t *tensor;
            json_array_foreach(ts, t, tensor) {
                json_t *h = get_or_die(get_or_die(tensor, "config"), "keras_history");
                int at = -1;
                layer_entry(root, json_string_value(json_array_get(h, 0)), &at);
                cr_expect_lt(at, (int)i, "%s takes %s, which comes later",
                             name, json_string_value(json_array_get(h, 0)));
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* A small branching model                                             */
/* ------------------------------------------------------------------ */

/*
 *   img (8, 8, 3) -> conv_a (3x3 same relu) -> shared_tanh (call 0) = ta
 *   img -> pad_b ((1, 1), (2, 0)) -> conv_b (3x3 valid, no bias, stride 1)
 *       -> shared_tanh (call 1) = tb
 *   sum = Add([tb, ta]) -> bn -> relu6 -> gap -> drop -> out (Dense 3)
 *   a second head: Concatenate([sum, conv_a]) -> cat_relu (ReLU) -> maxp
 */
typedef struct {
    zoo_graph *g;
    zoo_sym *in, *ta, *tb, *out, *maxp;
} branchy;

static branchy build_branchy(void)
{
    branchy b;
    zoo_graph *g = b.g = zoo_graph_new(3);
    b.in = zoo_input(g, 3, (int[]){8, 8, 3}, "img");
    zoo_sym *a = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){
                                             .name = "conv_a", .filters = 4,
                                             .kernel = {3, 3},
                                             .padding = ZOO_PAD_SAME,
                                             .activation = ZOO_ACT_RELU}),
                           b.in);
    zoo_sym *p = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){
                                                     .name = "pad_b",
                                                     .pad = {1, 1, 2, 0}}),
                           b.in);
    zoo_sym *cb = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){
                                              .name = "conv_b", .filters = 4,
                                              .kernel = {3, 3},
                                              .no_bias = true}),
                            p);
    zoo_layer *tanh_l = zoo_activation_layer(
        g, &(zoo_activation_cfg){.name = "shared_tanh", .activation = ZOO_ACT_TANH});
    b.ta = zoo_apply(tanh_l, a);
    b.tb = zoo_apply(tanh_l, cb);
    zoo_sym *sum = zoo_apply_n(zoo_add(g, &(zoo_named_cfg){.name = "sum"}),
                               (zoo_sym *[]){b.tb, b.ta}, 2);
    zoo_sym *x = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){
                                                 .name = "bn", .epsilon = 1.001e-5f}),
                           sum);
    x = zoo_apply(zoo_relu(g, &(zoo_relu_cfg){.name = "relu6", .max_value = 6.0f}), x);
    x = zoo_apply(zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.name = "gap"}), x);
    x = zoo_apply(zoo_dropout(g, &(zoo_dropout_cfg){.name = "drop", .rate = 0.25f}), x);
    b.out = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "out", .units = 3,
                                                    .activation = ZOO_ACT_SOFTMAX}),
                      x);
    zoo_sym *cat = zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = "cat"}),
                               (zoo_sym *[]){sum, a}, 2);
    cat = zoo_apply(zoo_relu(g, &(zoo_relu_cfg){.name = "cat_relu"}), cat);
    b.maxp = zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.name = "maxp"}), cat);
    cr_assert_not_null(b.out, "building the model failed: %s", zoo_last_error());
    cr_assert_not_null(b.maxp, "building the model failed: %s", zoo_last_error());
    return b;
}

Test(keras_config, branching_model)
{
    branchy b = build_branchy();
    zoo_model *m = zoo_model_new(&b.in, 1, (zoo_sym *[]){b.out, b.maxp}, 2, "branchy");
    cr_assert_not_null(m, "%s", zoo_last_error());
    char *text;
    json_t *root = config_or_die(m, &text);

    cr_expect_str_eq(str_of(root, "class_name"), "Functional");
    json_t *cfg = get_or_die(root, "config");
    cr_expect_str_eq(str_of(cfg, "name"), "branchy");
    cr_expect(bool_of(cfg, "trainable"));
    expect_layer_list(root, m);

    /* InputLayer: Keras 3's config, batch axis first and null. */
    json_t *img = get_or_die(layer_entry(root, "img", NULL), "config");
    cr_expect_str_eq(str_of(layer_entry(root, "img", NULL), "class_name"), "InputLayer");
    EXPECT_INTS(get_or_die(img, "batch_shape"), "batch_shape", -1, 8, 8, 3);
    cr_expect_str_eq(str_of(img, "dtype"), "float32");
    cr_expect_not(bool_of(img, "sparse"));
    cr_expect_null(json_object_get(img, "trainable"), "InputLayer writes no trainable");

    /* Conv2D, both flavours. */
    json_t *ca = get_or_die(layer_entry(root, "conv_a", NULL), "config");
    cr_expect_eq(int_of(ca, "filters"), 4);
    EXPECT_INTS(get_or_die(ca, "kernel_size"), "kernel_size", 3, 3);
    EXPECT_INTS(get_or_die(ca, "strides"), "strides", 1, 1);
    EXPECT_INTS(get_or_die(ca, "dilation_rate"), "dilation_rate", 1, 1);
    cr_expect_str_eq(str_of(ca, "padding"), "same");
    cr_expect_str_eq(str_of(ca, "data_format"), "channels_last");
    cr_expect_str_eq(str_of(ca, "activation"), "relu");
    cr_expect(bool_of(ca, "use_bias"));
    cr_expect_eq(int_of(ca, "groups"), 1);
    json_t *init = get_or_die(ca, "kernel_initializer");
    cr_expect_str_eq(str_of(init, "class_name"), "GlorotUniform");
    cr_expect_str_eq(str_of(init, "module"), "keras.initializers");
    cr_expect(json_is_null(get_or_die(ca, "kernel_regularizer")));
    json_t *cb = get_or_die(layer_entry(root, "conv_b", NULL), "config");
    cr_expect_str_eq(str_of(cb, "padding"), "valid");
    cr_expect_str_eq(str_of(cb, "activation"), "linear");
    cr_expect_not(bool_of(cb, "use_bias"));

    /* ZeroPadding2D ((top, bottom), (left, right)). */
    json_t *pad = get_or_die(layer_entry(root, "pad_b", NULL), "config");
    json_t *pp = get_or_die(pad, "padding");
    cr_assert(json_is_array(pp) && json_array_size(pp) == 2);
    EXPECT_INTS(json_array_get(pp, 0), "padding[0]", 1, 1);
    EXPECT_INTS(json_array_get(pp, 1), "padding[1]", 2, 0);

    /* The shared layer: two nodes, in call order. */
    json_t *tanh_e = layer_entry(root, "shared_tanh", NULL);
    cr_expect_str_eq(str_of(get_or_die(tanh_e, "config"), "activation"), "tanh");
    cr_assert_eq(json_array_size(get_or_die(tanh_e, "inbound_nodes")), 2);
    const int s844[] = {-1, 8, 8, 4};
    json_t *args = node_args(tanh_e, 0);
    cr_assert_eq(json_array_size(args), 1, "a single-input call has one arg");
    expect_tensor(json_array_get(args, 0), "conv_a", 0, s844, 4);
    expect_tensor(json_array_get(node_args(tanh_e, 1), 0), "conv_b", 0, s844, 4);

    /* Add: one argument, the list of both inputs in the order passed. */
    json_t *sum = layer_entry(root, "sum", NULL);
    cr_expect_str_eq(str_of(sum, "class_name"), "Add");
    cr_assert_eq(json_array_size(get_or_die(sum, "inbound_nodes")), 1);
    args = node_args(sum, 0);
    cr_assert_eq(json_array_size(args), 1, "merge layers take one list argument");
    json_t *list = json_array_get(args, 0);
    cr_assert(json_is_array(list) && json_array_size(list) == 2,
              "Add's argument should be a list of 2 tensors");
    expect_tensor(json_array_get(list, 0), "shared_tanh", 1, s844, 4);
    expect_tensor(json_array_get(list, 1), "shared_tanh", 0, s844, 4);
    json_t *bc = get_or_die(get_or_die(sum, "build_config"), "input_shape");
    cr_assert(json_is_array(bc) && json_array_size(bc) == 2);
    expect_ints(json_array_get(bc, 1), s844, 4, "Add build input_shape[1]");

    /* Concatenate's axis and list argument. */
    json_t *cat = layer_entry(root, "cat", NULL);
    cr_expect_eq(int_of(get_or_die(cat, "config"), "axis"), -1);
    list = json_array_get(node_args(cat, 0), 0);
    cr_assert(json_is_array(list) && json_array_size(list) == 2);
    expect_tensor(json_array_get(list, 0), "sum", 0, s844, 4);
    expect_tensor(json_array_get(list, 1), "conv_a", 0, s844, 4);

    /* BatchNormalization, ReLU, pools, Dropout, Dense. */
    json_t *bn = get_or_die(layer_entry(root, "bn", NULL), "config");
    cr_expect_eq(int_of(bn, "axis"), -1);
    cr_expect_eq(real_of(bn, "epsilon"), 1.001e-5, "epsilon %.17g", real_of(bn, "epsilon"));
    cr_expect_eq(real_of(bn, "momentum"), 0.99);
    cr_expect(bool_of(bn, "center"));
    cr_expect(bool_of(bn, "scale"));
    /* Written as Python writes the Keras values, not as float32 noise. */
    cr_expect(strstr(text, "\"epsilon\": 1.001e-") != NULL, "epsilon not written as 1.001e-5");
    cr_expect(strstr(text, "\"momentum\": 0.99,") != NULL, "momentum not written as 0.99");
    json_t *r6 = get_or_die(layer_entry(root, "relu6", NULL), "config");
    cr_expect_eq(real_of(r6, "max_value"), 6.0);
    cr_expect_eq(real_of(r6, "negative_slope"), 0.0);
    cr_expect_eq(real_of(r6, "threshold"), 0.0);
    json_t *cr = get_or_die(layer_entry(root, "cat_relu", NULL), "config");
    cr_expect(json_is_null(get_or_die(cr, "max_value")), "no ceiling is max_value null");
    json_t *mp = get_or_die(layer_entry(root, "maxp", NULL), "config");
    cr_expect_str_eq(str_of(layer_entry(root, "maxp", NULL), "class_name"), "MaxPooling2D");
    EXPECT_INTS(get_or_die(mp, "pool_size"), "pool_size", 2, 2);
    EXPECT_INTS(get_or_die(mp, "strides"), "strides", 2, 2);
    cr_expect_str_eq(str_of(mp, "padding"), "valid");
    json_t *gap = get_or_die(layer_entry(root, "gap", NULL), "config");
    cr_expect_not(bool_of(gap, "keepdims"));
    json_t *drop = get_or_die(layer_entry(root, "drop", NULL), "config");
    cr_expect_eq(real_of(drop, "rate"), 0.25);
    cr_expect(json_is_null(get_or_die(drop, "seed")));
    json_t *out = get_or_die(layer_entry(root, "out", NULL), "config");
    cr_expect_eq(int_of(out, "units"), 3);
    cr_expect_str_eq(str_of(out, "activation"), "softmax");
    cr_expect(bool_of(out, "use_bias"));

    expect_triples(get_or_die(cfg, "input_layers"), (const char *[]){"img"},
                   (int[]){0}, 1, "input_layers");
    expect_triples(get_or_die(cfg, "output_layers"),
                   (const char *[]){"out", "maxp"}, (int[]){0, 0}, 2,
                   "output_layers");

    json_decref(root);
    free(text);
    zoo_model_free(m);
    zoo_graph_release(b.g);
}

/* A sub-model holding only the second call of the shared layer: Keras
 * re-counts node indices among the model's own calls, so that call is
 * node 0 here, both in inbound_nodes and in output_layers. */
Test(keras_config, submodel_reindexes_nodes)
{
    branchy b = build_branchy();
    zoo_model *m = zoo_model_new(&b.in, 1, &b.tb, 1, "cut");
    cr_assert_not_null(m, "%s", zoo_last_error());
    json_t *root = config_or_die(m, NULL);
    expect_layer_list(root, m);
    cr_expect_eq(zoo_model_layer_count(m), 4); /* img, pad_b, conv_b, shared_tanh */
    json_t *tanh_e = layer_entry(root, "shared_tanh", NULL);
    cr_assert_eq(json_array_size(get_or_die(tanh_e, "inbound_nodes")), 1,
                 "only the model's own call is kept");
    expect_tensor(json_array_get(node_args(tanh_e, 0), 0), "conv_b", 0,
                  (int[]){-1, 8, 8, 4}, 4);
    expect_triples(get_or_die(get_or_die(root, "config"), "output_layers"),
                   (const char *[]){"shared_tanh"}, (int[]){0}, 1, "output_layers");

    /* The model up to both calls keeps both, numbered 0 and 1. */
    zoo_model *m2 = zoo_model_new(&b.in, 1, (zoo_sym *[]){b.tb, b.ta}, 2, "both");
    cr_assert_not_null(m2, "%s", zoo_last_error());
    json_t *root2 = config_or_die(m2, NULL);
    expect_triples(get_or_die(get_or_die(root2, "config"), "output_layers"),
                   (const char *[]){"shared_tanh", "shared_tanh"}, (int[]){1, 0}, 2,
                   "output_layers");
    json_decref(root2);
    zoo_model_free(m2);
    json_decref(root);
    zoo_model_free(m);
    zoo_graph_release(b.g);
}

/* ------------------------------------------------------------------ */
/* ResNet50                                                            */
/* ------------------------------------------------------------------ */

Test(keras_config, resnet50, .timeout = 60)
{
    zoo_model *m = zoo_net_resnet50(&(zoo_net_opts){.seed = 1});
    cr_assert_not_null(m, "%s", zoo_last_error());
    json_t *root = config_or_die(m, NULL);
    cr_expect_str_eq(str_of(root, "class_name"), "Functional");
    json_t *cfg = get_or_die(root, "config");
    cr_expect_str_eq(str_of(cfg, "name"), zoo_model_name(m));
    cr_expect_eq(zoo_model_layer_count(m), 177, "Keras's ResNet50 has 177 layers");
    expect_layer_list(root, m);

    int at;
    json_t *in = layer_entry(root, "input_layer", &at);
    cr_expect_eq(at, 0);
    EXPECT_INTS(get_or_die(get_or_die(in, "config"), "batch_shape"), "batch_shape",
                -1, 224, 224, 3);

    json_t *pad = get_or_die(layer_entry(root, "conv1_pad", &at), "config");
    cr_expect_eq(at, 1);
    json_t *pp = get_or_die(pad, "padding");
    EXPECT_INTS(json_array_get(pp, 0), "conv1_pad padding[0]", 3, 3);
    EXPECT_INTS(json_array_get(pp, 1), "conv1_pad padding[1]", 3, 3);

    json_t *c1 = get_or_die(layer_entry(root, "conv1_conv", NULL), "config");
    cr_expect_eq(int_of(c1, "filters"), 64);
    EXPECT_INTS(get_or_die(c1, "kernel_size"), "kernel_size", 7, 7);
    EXPECT_INTS(get_or_die(c1, "strides"), "strides", 2, 2);
    cr_expect_str_eq(str_of(c1, "padding"), "valid");
    cr_expect(bool_of(c1, "use_bias"));
    cr_expect_str_eq(str_of(c1, "activation"), "linear");

    /* The 3x3 conv of a block is 'same'; the strided 1x1 of conv3_block1. */
    json_t *c2 = get_or_die(layer_entry(root, "conv2_block1_2_conv", NULL), "config");
    EXPECT_INTS(get_or_die(c2, "kernel_size"), "kernel_size", 3, 3);
    cr_expect_str_eq(str_of(c2, "padding"), "same");
    json_t *c3 = get_or_die(layer_entry(root, "conv3_block1_1_conv", NULL), "config");
    EXPECT_INTS(get_or_die(c3, "kernel_size"), "kernel_size", 1, 1);
    EXPECT_INTS(get_or_die(c3, "strides"), "strides", 2, 2);

    json_t *bn = get_or_die(layer_entry(root, "conv1_bn", NULL), "config");
    cr_expect_eq(real_of(bn, "epsilon"), 1.001e-5);

    json_t *pool = get_or_die(layer_entry(root, "pool1_pool", NULL), "config");
    EXPECT_INTS(get_or_die(pool, "pool_size"), "pool_size", 3, 3);
    EXPECT_INTS(get_or_die(pool, "strides"), "strides", 2, 2);
    json_t *pp1 = get_or_die(get_or_die(layer_entry(root, "pool1_pad", NULL), "config"),
                             "padding");
    EXPECT_INTS(json_array_get(pp1, 0), "pool1_pad padding[0]", 1, 1);

    /* Add([shortcut, x]) as Keras's residual block passes it. */
    const int s56[] = {-1, 56, 56, 256};
    json_t *list = json_array_get(node_args(layer_entry(root, "conv2_block1_add", NULL), 0), 0);
    cr_assert(json_is_array(list) && json_array_size(list) == 2);
    expect_tensor(json_array_get(list, 0), "conv2_block1_0_bn", 0, s56, 4);
    expect_tensor(json_array_get(list, 1), "conv2_block1_3_bn", 0, s56, 4);
    list = json_array_get(node_args(layer_entry(root, "conv2_block2_add", NULL), 0), 0);
    cr_assert(json_is_array(list) && json_array_size(list) == 2);
    expect_tensor(json_array_get(list, 0), "conv2_block1_out", 0, s56, 4);
    expect_tensor(json_array_get(list, 1), "conv2_block2_3_bn", 0, s56, 4);

    json_t *pred = get_or_die(layer_entry(root, "predictions", &at), "config");
    cr_expect_eq(at, 176);
    cr_expect_eq(int_of(pred, "units"), 1000);
    cr_expect_str_eq(str_of(pred, "activation"), "softmax");
    cr_expect_str_eq(str_of(layer_entry(root, "avg_pool", NULL), "class_name"),
                     "GlobalAveragePooling2D");

    expect_triples(get_or_die(cfg, "input_layers"), (const char *[]){"input_layer"},
                   (int[]){0}, 1, "input_layers");
    expect_triples(get_or_die(cfg, "output_layers"), (const char *[]){"predictions"},
                   (int[]){0}, 1, "output_layers");
    json_decref(root);
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Sequential, errors                                                  */
/* ------------------------------------------------------------------ */

Test(keras_config, sequential_model)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *layers[] = {
        zoo_reshape(g, &(zoo_reshape_cfg){.name = "rs", .rank = 2, .shape = {-1, 2}}),
        zoo_flatten(g, &(zoo_named_cfg){.name = "flat"}),
        zoo_dense(g, &(zoo_dense_cfg){.name = "fc", .units = 2, .no_bias = true}),
    };
    zoo_model *m = zoo_sequential(g, 1, (int[]){6}, layers, 3, "seq");
    zoo_graph_release(g);
    cr_assert_not_null(m, "%s", zoo_last_error());
    json_t *root = config_or_die(m, NULL);
    cr_expect_str_eq(str_of(root, "class_name"), "Sequential");
    json_t *cfg = get_or_die(root, "config");
    json_t *ls = get_or_die(cfg, "layers");
    cr_assert_eq(json_array_size(ls), 4, "Sequential lists its InputLayer first");
    cr_expect_str_eq(str_of(json_array_get(ls, 0), "class_name"), "InputLayer");
    json_t *ts = get_or_die(get_or_die(json_array_get(ls, 1), "config"), "target_shape");
    cr_assert(json_is_array(ts) && json_array_size(ts) == 2);
    cr_expect_eq(json_integer_value(json_array_get(ts, 0)), -1, "Keras keeps -1 in target_shape");
    cr_expect_eq(json_integer_value(json_array_get(ts, 1)), 2);
    cr_expect_not(bool_of(get_or_die(json_array_get(ls, 3), "config"), "use_bias"));
    EXPECT_INTS(get_or_die(cfg, "build_input_shape"), "build_input_shape", -1, 6);
    json_decref(root);
    zoo_model_free(m);
}

Test(keras_config, errors)
{
    zoo_clear_error();
    cr_expect_null(zoo_model_to_json(NULL));
    cr_expect_neq(zoo_last_status(), ZOO_OK);

    /* A model whose input is not an Input tensor cannot be described. */
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in = zoo_input(g, 3, (int[]){4, 4, 3}, "img");
    zoo_sym *c = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "c", .filters = 2,
                                                          .kernel = {1, 1}}),
                           in);
    zoo_sym *f = zoo_apply(zoo_flatten(g, NULL), c);
    cr_assert_not_null(f, "%s", zoo_last_error());
    zoo_model *m = zoo_model_new(&c, 1, &f, 1, "inner");
    zoo_graph_release(g);
    cr_assert_not_null(m, "the engine allows a cut at an inner tensor: %s",
                       zoo_last_error());
    zoo_clear_error();
    char *s = zoo_model_to_json(m);
    cr_expect_null(s, "a model fed by c's output has no Keras config");
    cr_expect(strstr(zoo_last_error(), "InputLayer") != NULL,
              "message should say why: %s", zoo_last_error());
    free(s);
    zoo_model_free(m);
}
