/*
 * A program outside zoo's tree that uses only the installed public API:
 * builds a small branching functional model, prints its summary, predicts
 * on a constant input and checks the softmax output. run.sh builds it
 * against an installed zoo with find_package(zoo) and with pkg-config.
 */
#include <zoo/zoo.h>

#include <stdio.h>

static int fail(const char *what)
{
    fprintf(stderr, "consumer: %s failed: %s: %s\n", what,
            zoo_status_name(zoo_last_status()), zoo_last_error());
    return 1;
}

int main(void)
{
    zoo_graph *g = zoo_graph_new(42);
    if (!g)
        return fail("zoo_graph_new");

    /* Input 8x8x3 -> Conv2D 3x3 -> [Conv2D 1x1 | MaxPooling2D 3x3/1]
     * -> Concatenate -> GlobalAveragePooling2D -> Dense softmax. */
    zoo_sym *in = zoo_input(g, 3, (const int[]){8, 8, 3}, "image");
    zoo_sym *x = zoo_apply(
        zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 4, .kernel = {3, 3},
                                        .padding = ZOO_PAD_SAME,
                                        .activation = ZOO_ACT_RELU,
                                        .name = "stem"}),
        in);
    zoo_sym *branches[2] = {
        zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 4,
                                                  .kernel = {1, 1},
                                                  .name = "branch_conv"}),
                  x),
        zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {3, 3},
                                                      .strides = {1, 1},
                                                      .padding = ZOO_PAD_SAME,
                                                      .name = "branch_pool"}),
                  x),
    };
    zoo_sym *y = NULL;
    if (branches[0] && branches[1])
        y = zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = "merge"}),
                        branches, 2);
    y = zoo_apply(zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.name = "gap"}), y);
    y = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.units = 2,
                                                .activation = ZOO_ACT_SOFTMAX,
                                                .name = "probs"}),
                  y);
    if (!y) {
        zoo_graph_release(g);
        return fail("building the graph");
    }
    zoo_model *m = zoo_model_new(&in, 1, &y, 1, "consumer");
    zoo_graph_release(g);
    if (!m)
        return fail("zoo_model_new");

    int rc = 0;
    zoo_tensor *input = NULL, *out = NULL;
    if (zoo_model_summary(m, stdout) != ZOO_OK) {
        rc = fail("zoo_model_summary");
        goto done;
    }
    /* 3*3*3*4+4 + 4*4+4 + 8*2+2 */
    if (zoo_model_param_count(m) != 150) {
        fprintf(stderr, "consumer: %zu params, expected 150\n",
                zoo_model_param_count(m));
        rc = 1;
        goto done;
    }

    input = zoo_tensor_new(4, (const int[]){1, 8, 8, 3});
    if (!input) {
        rc = fail("zoo_tensor_new");
        goto done;
    }
    float *px = zoo_tensor_data(input);
    for (size_t i = 0; i < zoo_tensor_size(input); i++)
        px[i] = 0.5f;
    if (zoo_model_predict(m, &input, 1, &out, 1, NULL) != ZOO_OK) {
        rc = fail("zoo_model_predict");
        goto done;
    }
    if (zoo_tensor_rank(out) != 2 || zoo_tensor_shape(out)[0] != 1 ||
        zoo_tensor_shape(out)[1] != 2) {
        char buf[64];
        fprintf(stderr, "consumer: output shape %s, expected (1, 2)\n",
                zoo_shape_format(zoo_tensor_rank(out), zoo_tensor_shape(out),
                                 buf, sizeof buf));
        rc = 1;
        goto done;
    }
    const float *p = zoo_tensor_cdata(out);
    printf("probabilities: %.6f %.6f\n", p[0], p[1]);
    float err = p[0] + p[1] - 1.0f;
    if (!(p[0] >= 0.0f && p[1] >= 0.0f && err > -1e-5f && err < 1e-5f)) {
        fprintf(stderr, "consumer: softmax outputs do not sum to 1\n");
        rc = 1;
    }

done:
    if (out)
        zoo_tensor_free(out);
    if (input)
        zoo_tensor_free(input);
    zoo_model_free(m);
    return rc;
}
