/*
 * model.layers order on branching graphs. Expected orders are worked by
 * hand from Keras's rule (keras/src/ops/function.py map_graph): layers by
 * decreasing depth (longest path to an output), ties by DFS discovery
 * index, the DFS visiting call inputs in the order they were passed.
 */
#include <criterion/criterion.h>
#include <zoo/zoo.h>

#include <string.h>

static zoo_sym *conv(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = name, .filters = 2,
                                                     .kernel = {1, 1}}),
                     x);
}

static void expect_order(const zoo_model *m, const char *const *names, int n)
{
    cr_assert_not_null(m, "model failed: %s", zoo_last_error());
    cr_assert_eq(zoo_model_layer_count(m), n, "layer count %d, want %d",
                 zoo_model_layer_count(m), n);
    for (int i = 0; i < n; i++)
        cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, i)), names[i],
                         "layer %d is %s, want %s", i,
                         zoo_layer_name(zoo_model_layer(m, i)), names[i]);
}

/* Inception-style block, branches created 1x1, 5x5, 3x3dbl, pool (as in
 * InceptionV3's mixed0). Depths: mixed 0; the four branch ends 1; b5_1,
 * b3_2, pool 2; b3_1 3; stem 4; input 5. Discovery from the output:
 * mixed, b1x1, stem, input, b5_2, b5_1, b3_3, b3_2, b3_1, bp_conv, pool.
 * So the deepest branch's first conv comes right after the stem. */
Test(keras_order, inception_block)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in = zoo_input(g, 3, (int[]){5, 5, 3}, "input");
    zoo_sym *stem = conv(g, in, "stem");
    zoo_sym *b1 = conv(g, stem, "b1x1");
    zoo_sym *b5 = conv(g, conv(g, stem, "b5_1"), "b5_2");
    zoo_sym *b3 = conv(g, conv(g, conv(g, stem, "b3_1"), "b3_2"), "b3_3");
    zoo_sym *bp = zoo_apply(zoo_avg_pool2d(g, &(zoo_pool2d_cfg){.name = "pool",
                                                                .pool = {3, 3},
                                                                .strides = {1, 1},
                                                                .padding = ZOO_PAD_SAME}),
                            stem);
    bp = conv(g, bp, "bp_conv");
    zoo_sym *out = zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = "mixed"}),
                               (zoo_sym *[]){b1, b5, b3, bp}, 4);
    zoo_model *m = zoo_model_new(&in, 1, &out, 1, "inception");
    zoo_graph_release(g);
    const char *want[] = {"input", "stem", "b3_1", "b5_1", "b3_2", "pool",
                          "b1x1", "b5_2", "b3_3", "bp_conv", "mixed"};
    expect_order(m, want, 11);
    zoo_model_free(m);
}

/* DenseNet-style chain: x1 = concat([x0, conv(x0)]), x2 = concat([x1,
 * conv(x1)]). Depths: b2_concat 0, b2_conv 1, b1_concat 2, b1_conv 3,
 * c0 4, input 5: creation order here, despite the skip connections. */
Test(keras_order, densenet_chain)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in = zoo_input(g, 3, (int[]){4, 4, 3}, "input");
    zoo_sym *x0 = conv(g, in, "c0");
    zoo_sym *x1 = zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = "b1_concat"}),
                              (zoo_sym *[]){x0, conv(g, x0, "b1_conv")}, 2);
    zoo_sym *x2 = zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = "b2_concat"}),
                              (zoo_sym *[]){x1, conv(g, x1, "b2_conv")}, 2);
    zoo_model *m = zoo_model_new(&in, 1, &x2, 1, "dense");
    zoo_graph_release(g);
    const char *want[] = {"input", "c0", "b1_conv", "b1_concat", "b2_conv", "b2_concat"};
    expect_order(m, want, 6);
    zoo_model_free(m);
}

/* ResNet50's first block, as the reference lists it (section 3): the
 * shortcut conv (created first) lands after the main path's 2_relu, and
 * the two BNs feeding the Add interleave. Also the documented totals:
 * 177 layers with the top, 175 without. */
Test(keras_order, resnet50_first_block)
{
    zoo_model *m = zoo_net_resnet50(NULL);
    cr_assert_not_null(m, "%s", zoo_last_error());
    cr_expect_eq(zoo_model_layer_count(m), 177);
    const char *want[] = {
        "conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block1_1_relu",
        "conv2_block1_2_conv", "conv2_block1_2_bn", "conv2_block1_2_relu",
        "conv2_block1_0_conv", "conv2_block1_3_conv", "conv2_block1_0_bn",
        "conv2_block1_3_bn", "conv2_block1_add", "conv2_block1_out"};
    for (int i = 0; i < 12; i++)
        cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 7 + i)), want[i],
                         "layer %d is %s, want %s", 7 + i,
                         zoo_layer_name(zoo_model_layer(m, 7 + i)), want[i]);
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 0)), "input_layer");
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 176)), "predictions");
    zoo_model_free(m);

    m = zoo_net_resnet50(&(zoo_net_opts){.no_top = true});
    cr_assert_not_null(m, "%s", zoo_last_error());
    cr_expect_eq(zoo_model_layer_count(m), 175);
    zoo_model_free(m);
}

/* A layer shared by two inputs: one entry in model.layers, at the depth of
 * its deepest call. Inputs first in discovery order (in1 found first). */
Test(keras_order, shared_layer_two_inputs)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in1 = zoo_input(g, 3, (int[]){3, 3, 2}, "in1");
    zoo_sym *in2 = zoo_input(g, 3, (int[]){3, 3, 2}, "in2");
    zoo_layer *shared = zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "shared", .filters = 2,
                                                         .kernel = {1, 1}});
    zoo_sym *a = zoo_apply(shared, in1);
    zoo_sym *b = zoo_apply(shared, in2);
    zoo_sym *sum = zoo_apply_n(zoo_add(g, &(zoo_named_cfg){.name = "sum"}),
                               (zoo_sym *[]){a, b}, 2);
    zoo_model *m = zoo_model_new((zoo_sym *[]){in1, in2}, 2, &sum, 1, "siamese");
    zoo_graph_release(g);
    const char *want[] = {"in1", "in2", "shared", "sum"};
    expect_order(m, want, 4);
    /* Shared weights count once. */
    cr_expect_eq(zoo_model_param_count(m), 2 * 2 + 2);

    /* Both calls use the same weights: in1 == in2 gives sum == 2 * a. */
    zoo_tensor *x = zoo_tensor_new(4, (int[]){1, 3, 3, 2});
    for (size_t i = 0; i < zoo_tensor_size(x); i++)
        zoo_tensor_data(x)[i] = (float)i - 4.0f;
    zoo_tensor *y = NULL;
    cr_assert_eq(zoo_model_predict(m, (zoo_tensor *[]){x, x}, 2, &y, 1, NULL), ZOO_OK,
                 "%s", zoo_last_error());
    const float *k = zoo_tensor_cdata(zoo_layer_weight(shared, 0)); /* (1,1,2,2) */
    const float *bias = zoo_tensor_cdata(zoo_layer_weight(shared, 1));
    for (int p = 0; p < 9; p++)
        for (int o = 0; o < 2; o++) {
            const float *xi = zoo_tensor_cdata(x) + p * 2;
            float conv_out = xi[0] * k[0 * 2 + o] + xi[1] * k[1 * 2 + o] + bias[o];
            cr_expect_float_eq(zoo_tensor_cdata(y)[p * 2 + o], 2 * conv_out, 1e-5);
        }
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_model_free(m);
}

/* Two outputs: the DFS runs from each output in order, so layers only
 * reachable from the second output are discovered later. Depths: head_a
 * and head_b 0; trunk 1; input 2. */
Test(keras_order, two_outputs_and_submodel)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in = zoo_input(g, 3, (int[]){4, 4, 3}, "input");
    zoo_sym *trunk = conv(g, in, "trunk");
    zoo_sym *hb = conv(g, trunk, "head_b");
    zoo_sym *ha = conv(g, trunk, "head_a");
    zoo_model *m = zoo_model_new(&in, 1, (zoo_sym *[]){hb, ha}, 2, "two_heads");
    const char *want[] = {"input", "trunk", "head_b", "head_a"};
    expect_order(m, want, 4);

    /* Feature extraction: a sub-model cut at "trunk" shares its weights. */
    zoo_model *cut = zoo_model_new(&in, 1,
                                   (zoo_sym *[]){zoo_layer_output(zoo_model_get_layer(m, "trunk"), 0)},
                                   1, "cut");
    const char *want_cut[] = {"input", "trunk"};
    expect_order(cut, want_cut, 2);
    cr_expect_eq(zoo_model_get_layer(cut, "trunk"), zoo_model_get_layer(m, "trunk"));
    cr_expect_null(zoo_model_get_layer(cut, "head_a"));
    cr_expect(strstr(zoo_last_error(), "head_a") != NULL, "message: %s", zoo_last_error());
    zoo_graph_release(g);
    zoo_model_free(m);
    zoo_model_free(cut);
}

/* Sequential omits the InputLayer from its layers, as Keras does. */
Test(keras_order, sequential_omits_input)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *layers[] = {
        zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "c", .filters = 2, .kernel = {3, 3}}),
        zoo_flatten(g, NULL),
        zoo_dense(g, &(zoo_dense_cfg){.units = 3}),
    };
    zoo_model *m = zoo_sequential(g, 3, (int[]){5, 5, 1}, layers, 3, NULL);
    zoo_graph_release(g);
    const char *want[] = {"c", "flatten", "dense"};
    expect_order(m, want, 3);
    cr_expect_str_eq(zoo_model_name(m), "sequential");
    /* conv 3*3*1*2 + 2, dense (3*3*2)*3 + 3 */
    cr_expect_eq(zoo_model_param_count(m), 20 + 57);
    zoo_model_free(m);
}

/* A graph that needs an input the model was not given is refused. */
Test(keras_order, disconnected_graph_is_an_error)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in1 = zoo_input(g, 3, (int[]){3, 3, 2}, "in1");
    zoo_sym *in2 = zoo_input(g, 3, (int[]){3, 3, 2}, "in2");
    zoo_sym *sum = zoo_apply_n(zoo_add(g, NULL), (zoo_sym *[]){in1, in2}, 2);
    zoo_model *m = zoo_model_new(&in1, 1, &sum, 1, NULL);
    cr_expect_null(m);
    cr_expect(strstr(zoo_last_error(), "in2") != NULL, "message: %s", zoo_last_error());
    zoo_graph_release(g);
}
