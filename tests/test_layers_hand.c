/*
 * Small layer cases worked out by hand. Each expected value is derived in
 * the comment above it, so a failure can be checked with pencil and paper.
 * Tensors are NHWC; kernels are Keras's (kh, kw, cin, cout).
 */
#include "support.h"

#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* Runs `layer` on x (shape xs) with the given weights and checks the
 * output's shape and values. */
static void check_layer(zoo_graph *g, zoo_layer *l, int rank, const int *xs,
                        const float *x, const zt_weight *w, int nw,
                        int out_rank, const int *out_shape, const float *want)
{
    zoo_tensor *in = zt_tensor_or_die(rank, xs, x);
    zoo_tensor *got = zt_run_layer_or_die(g, l, in, w, nw);
    zoo_tensor *exp = zt_tensor_or_die(out_rank, out_shape, want);
    char msg[512];
    cr_expect(zt_tensor_close(got, exp, 1e-5, 1e-6, msg, sizeof msg), "%s: %s",
              zoo_layer_class(l), msg);
    zoo_tensor_free(in);
    zoo_tensor_free(got);
    zoo_tensor_free(exp);
}

/*
 * Conv2D 2x2 kernel, 'valid', on a 3x3 single-channel input.
 *   x = 1 2 3      k = 1 2     bias 0.5
 *       4 5 6          3 4
 *       7 8 9
 * Cross-correlation (no kernel flip):
 *   out[0,0] = 1*1 + 2*2 + 4*3 + 5*4 = 37   (+0.5 = 37.5)
 *   out[0,1] = 2*1 + 3*2 + 5*3 + 6*4 = 47   (47.5)
 *   out[1,0] = 4*1 + 5*2 + 7*3 + 8*4 = 67   (67.5)
 *   out[1,1] = 5*1 + 6*2 + 8*3 + 9*4 = 77   (77.5)
 * (a flipped kernel would give 23, 33, 53, 63 before the bias).
 */
Test(hand, conv2d_valid_2x2)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 1, .kernel = {2, 2}});
    const float x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float k[] = {1, 2, 3, 4}, b[] = {0.5f};
    const zt_weight w[] = {{k, 4}, {b, 1}};
    const float want[] = {37.5f, 47.5f, 67.5f, 77.5f};
    check_layer(g, l, 4, (int[]){1, 3, 3, 1}, x, w, 2, 4, (int[]){1, 2, 2, 1},
                want);
    zoo_graph_release(g);
}

/*
 * Conv2D 3x3 of ones, stride 2, 'same', on a 4x4 input x[i][j] = 4i+j+1:
 *    1  2  3  4
 *    5  6  7  8
 *    9 10 11 12
 *   13 14 15 16
 * TF rule: out = ceil(4/2) = 2, total pad = (2-1)*2 + 3 - 4 = 1, so
 * top = left = 0 and bottom = right = 1 (the odd pixel goes after).
 * Windows start at rows/cols 0 and 2:
 *   out[0,0] = rows 0-2, cols 0-2 = 6 + 18 + 30        = 54
 *   out[0,1] = rows 0-2, cols 2-3 (+pad) = 7 + 15 + 23 = 45
 *   out[1,0] = rows 2-3 (+pad), cols 0-2 = 30 + 42     = 72
 *   out[1,1] = rows 2-3, cols 2-3 = 11+12+15+16        = 54
 * (symmetric padding, top = left = 1, would give 14 at [0,0]).
 */
Test(hand, conv2d_same_stride2_pads_bottom_right)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 1,
                                                   .kernel = {3, 3},
                                                   .strides = {2, 2},
                                                   .padding = ZOO_PAD_SAME,
                                                   .no_bias = true});
    float x[16], k[9];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++)
        k[i] = 1.0f;
    const zt_weight w[] = {{k, 9}};
    const float want[] = {54, 45, 72, 54};
    check_layer(g, l, 4, (int[]){1, 4, 4, 1}, x, w, 1, 4, (int[]){1, 2, 2, 1},
                want);
    zoo_graph_release(g);
}

/*
 * Conv2D 3x3 of ones, dilation 2, 'valid', on a 5x5 input 1..25: the
 * effective kernel is 5x5, one output, summing rows and cols 0, 2, 4:
 *   1+3+5 + 11+13+15 + 21+23+25 = 9 + 39 + 69 = 117.
 */
Test(hand, conv2d_dilation2)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 1,
                                                   .kernel = {3, 3},
                                                   .dilation = {2, 2},
                                                   .no_bias = true});
    float x[25], k[9];
    for (int i = 0; i < 25; i++)
        x[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++)
        k[i] = 1.0f;
    const zt_weight w[] = {{k, 9}};
    const float want[] = {117};
    check_layer(g, l, 4, (int[]){1, 5, 5, 1}, x, w, 1, 4, (int[]){1, 1, 1, 1},
                want);
    zoo_graph_release(g);
}

/*
 * Conv2D 1x1 with two input and three output channels is a matrix
 * product per pixel: kernel (1,1,2,3) = [[1, 2, 3], [4, 5, 6]] (row = cin).
 *   pixel (1, 2)  -> [1+8, 2+10, 3+12] = [9, 12, 15]
 *   pixel (-1, 0.5) -> [-1+2, -2+2.5, -3+3] = [1, 0.5, 0]
 * relu keeps all of these (0 stays 0).
 */
Test(hand, conv2d_1x1_channels)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 3,
                                                   .kernel = {1, 1},
                                                   .activation = ZOO_ACT_RELU,
                                                   .no_bias = true});
    const float x[] = {1, 2, -1, 0.5f};
    const float k[] = {1, 2, 3, 4, 5, 6};
    const zt_weight w[] = {{k, 6}};
    const float want[] = {9, 12, 15, 1, 0.5f, 0};
    check_layer(g, l, 4, (int[]){1, 1, 2, 2}, x, w, 1, 4, (int[]){1, 1, 2, 3},
                want);
    zoo_graph_release(g);
}

/*
 * DepthwiseConv2D 1x1, depth_multiplier 2, on one pixel with channels
 * [2, 3]. Kernel (1,1,2,2): k[c][m] = c0: [10, 20], c1: [30, 40].
 * Output channel c*M + m:
 *   [2*10, 2*20, 3*30, 3*40] = [20, 40, 90, 120]
 * (the m*C + c order would give [20, 90, 40, 120]).
 */
Test(hand, depthwise_channel_order)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_depthwise_conv2d(
        g, &(zoo_depthwise_conv2d_cfg){.kernel = {1, 1},
                                       .depth_multiplier = 2,
                                       .no_bias = true});
    const float x[] = {2, 3};
    const float k[] = {10, 20, 30, 40};
    const zt_weight w[] = {{k, 4}};
    const float want[] = {20, 40, 90, 120};
    check_layer(g, l, 4, (int[]){1, 1, 1, 2}, x, w, 1, 4, (int[]){1, 1, 1, 4},
                want);
    zoo_graph_release(g);
}

/*
 * SeparableConv2D 1x1, two channels, one filter: depthwise scales
 * [2, 3] by [10, 100] -> [20, 300]; pointwise (1,1,2,1) = [1, -1] gives
 * 20 - 300 = -280; bias 0.5 -> -279.5.
 */
Test(hand, separable_1x1)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_separable_conv2d(
        g, &(zoo_separable_conv2d_cfg){.filters = 1, .kernel = {1, 1}});
    const float x[] = {2, 3};
    const float dk[] = {10, 100}, pk[] = {1, -1}, b[] = {0.5f};
    const zt_weight w[] = {{dk, 2}, {pk, 2}, {b, 1}};
    const float want[] = {-279.5f};
    check_layer(g, l, 4, (int[]){1, 1, 1, 2}, x, w, 3, 4, (int[]){1, 1, 1, 1},
                want);
    zoo_graph_release(g);
}

/*
 * Dense: x = [1, 2], W (2,3) = [[1, 2, 3], [4, 5, 6]], b = [0.5, 0, -1]
 *   x W = [1+8, 2+10, 3+12] = [9, 12, 15];  + b = [9.5, 12, 14].
 */
Test(hand, dense)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_dense(g, &(zoo_dense_cfg){.units = 3});
    const float x[] = {1, 2};
    const float k[] = {1, 2, 3, 4, 5, 6}, b[] = {0.5f, 0, -1};
    const zt_weight w[] = {{k, 6}, {b, 3}};
    const float want[] = {9.5f, 12, 14};
    check_layer(g, l, 2, (int[]){1, 2}, x, w, 2, 2, (int[]){1, 3}, want);
    zoo_graph_release(g);
}

/*
 * AveragePooling2D 3x3, stride 1, 'same' on a 3x3 input 1..9. Padding
 * cells are left out of the divisor:
 *   corner [0,0]: 1+2+4+5 = 12 over 4 cells        = 3
 *   edge   [0,1]: 1+2+3+4+5+6 = 21 over 6          = 3.5
 *   corner [0,2]: 2+3+5+6 = 16 / 4                 = 4
 *   edge   [1,0]: 1+2+4+5+7+8 = 27 / 6             = 4.5
 *   centre [1,1]: 45 / 9                           = 5
 *   edge   [1,2]: 2+3+5+6+8+9 = 33 / 6             = 5.5
 *   corner [2,0]: 4+5+7+8 = 24 / 4                 = 6
 *   edge   [2,1]: 4+5+6+7+8+9 = 39 / 6             = 6.5
 *   corner [2,2]: 5+6+8+9 = 28 / 4                 = 7
 * (a divisor of 9 would give 1.333 at the corner).
 */
Test(hand, avg_pool_same_excludes_padding)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_avg_pool2d(g, &(zoo_pool2d_cfg){.pool = {3, 3},
                                                       .strides = {1, 1},
                                                       .padding = ZOO_PAD_SAME});
    const float x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float want[] = {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7};
    check_layer(g, l, 4, (int[]){1, 3, 3, 1}, x, NULL, 0, 4,
                (int[]){1, 3, 3, 1}, want);
    zoo_graph_release(g);
}

/*
 * MaxPooling2D 2x2, stride 2 (default = pool), 'same' on a 3x3 input of
 * negatives -1..-9. out = ceil(3/2) = 2, total pad 1 -> bottom/right only.
 *   [0,0] = max(-1, -2, -4, -5) = -1
 *   [0,1] = max(-3, -6)         = -3   (right column is padding)
 *   [1,0] = max(-7, -8)         = -7   (bottom row is padding)
 *   [1,1] = max(-9)             = -9
 * Zero padding would wrongly give 0 at the last three.
 */
Test(hand, max_pool_same_ignores_padding)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {2, 2},
                                                       .padding = ZOO_PAD_SAME});
    const float x[] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
    const float want[] = {-1, -3, -7, -9};
    check_layer(g, l, 4, (int[]){1, 3, 3, 1}, x, NULL, 0, 4,
                (int[]){1, 2, 2, 1}, want);
    zoo_graph_release(g);
}

/*
 * AveragePooling2D 2x2 'valid' (default strides 2) on 2x2x2: channel 0 =
 * [1, 2, 3, 4] -> 2.5, channel 1 = [10, 20, 30, 40] -> 25.
 */
Test(hand, avg_pool_valid_default_strides)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_avg_pool2d(g, NULL);
    const float x[] = {1, 10, 2, 20, 3, 30, 4, 40};
    const float want[] = {2.5f, 25};
    check_layer(g, l, 4, (int[]){1, 2, 2, 2}, x, NULL, 0, 4,
                (int[]){1, 1, 1, 2}, want);
    zoo_graph_release(g);
}

/*
 * ReLU(max_value=6): [-3, 0, 2.5, 6, 7.5] -> [0, 0, 2.5, 6, 6].
 */
Test(hand, relu_max_value_6)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_relu(g, &(zoo_relu_cfg){.max_value = 6});
    const float x[] = {-3, 0, 2.5f, 6, 7.5f};
    const float want[] = {0, 0, 2.5f, 6, 6};
    check_layer(g, l, 2, (int[]){1, 5}, x, NULL, 0, 2, (int[]){1, 5}, want);
    zoo_graph_release(g);
}

/*
 * ReLU(max_value=6, negative_slope=0.1, threshold=1):
 *   x <= 1: 0.1 * (x - 1);  1 < x < 6: x;  x >= 6: 6
 *   [-3, 0, 2.5, 6, 7.5] -> [-0.4, -0.1, 2.5, 6, 6]
 */
Test(hand, relu_slope_threshold)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_relu(g, &(zoo_relu_cfg){.max_value = 6,
                                               .negative_slope = 0.1f,
                                               .threshold = 1});
    const float x[] = {-3, 0, 2.5f, 6, 7.5f};
    const float want[] = {-0.4f, -0.1f, 2.5f, 6, 6};
    check_layer(g, l, 2, (int[]){1, 5}, x, NULL, 0, 2, (int[]){1, 5}, want);
    zoo_graph_release(g);
}

/*
 * softmax([1, 2, 3]) = exp([-2, -1, 0]) / sum:
 *   exp(-2) = 0.135335283, exp(-1) = 0.367879441, exp(0) = 1
 *   sum = 1.503214724
 *   -> [0.090030573, 0.244728471, 0.665240956]
 * Second row [1001, 1002, 1003] gives the same (the max is subtracted;
 * exp(1003) overflows float).
 */
Test(hand, softmax_row)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l =
        zoo_activation_layer(g, &(zoo_activation_cfg){.activation = ZOO_ACT_SOFTMAX});
    const float x[] = {1, 2, 3, 1001, 1002, 1003};
    const float want[] = {0.090030573f, 0.244728471f, 0.665240956f,
                          0.090030573f, 0.244728471f, 0.665240956f};
    check_layer(g, l, 2, (int[]){2, 3}, x, NULL, 0, 2, (int[]){2, 3}, want);
    zoo_graph_release(g);
}

/*
 * Keras 3 hard_sigmoid = relu6(x + 3) / 6:
 *   [-4, -3, 0, 1.5, 3, 4] -> [0, 0, 0.5, 0.75, 1, 1]
 * (Keras 2's 0.2x + 0.5 would give 0.8 at 1.5).
 * swish(x) = x * sigmoid(x): swish(0) = 0, swish(1) = 0.731058579,
 * swish(-1) = -0.268941421. relu6(7) = 6, sigmoid(0) = 0.5, tanh(0) = 0.
 */
Test(hand, activations)
{
    const float hx[] = {-4, -3, 0, 1.5f, 3, 4};
    const float hw[] = {0, 0, 0.5f, 0.75f, 1, 1};
    zoo_graph *g = zoo_graph_new(1);
    check_layer(g,
                zoo_activation_layer(g, &(zoo_activation_cfg){
                                            .activation = ZOO_ACT_HARD_SIGMOID}),
                2, (int[]){1, 6}, hx, NULL, 0, 2, (int[]){1, 6}, hw);
    const float sx[] = {0, 1, -1};
    const float sw[] = {0, 0.731058579f, -0.268941421f};
    check_layer(g,
                zoo_activation_layer(g, &(zoo_activation_cfg){
                                            .activation = ZOO_ACT_SWISH}),
                2, (int[]){1, 3}, sx, NULL, 0, 2, (int[]){1, 3}, sw);
    const float rx[] = {-1, 3, 7};
    const float rw[] = {0, 3, 6};
    check_layer(g,
                zoo_activation_layer(g, &(zoo_activation_cfg){
                                            .activation = ZOO_ACT_RELU6}),
                2, (int[]){1, 3}, rx, NULL, 0, 2, (int[]){1, 3}, rw);
    const float zx[] = {0};
    const float half[] = {0.5f}, zero[] = {0};
    check_layer(g,
                zoo_activation_layer(g, &(zoo_activation_cfg){
                                            .activation = ZOO_ACT_SIGMOID}),
                2, (int[]){1, 1}, zx, NULL, 0, 2, (int[]){1, 1}, half);
    check_layer(g,
                zoo_activation_layer(g, &(zoo_activation_cfg){
                                            .activation = ZOO_ACT_TANH}),
                2, (int[]){1, 1}, zx, NULL, 0, 2, (int[]){1, 1}, zero);
    zoo_graph_release(g);
}

/*
 * BatchNormalization, one channel, epsilon 1e-3:
 *   gamma 2, beta 0.5, mean 1, variance 3.999 -> sqrt(3.999 + 0.001) = 2
 *   x = 3: 2 * (3 - 1) / 2 + 0.5 = 2.5
 *   x = 0: 2 * (0 - 1) / 2 + 0.5 = -0.5
 * With scale=False (no gamma, so gamma = 1): (3 - 1) / 2 + 0.5 = 1.5 and
 * (0 - 1) / 2 + 0.5 = 0.
 */
Test(hand, batch_norm)
{
    zoo_graph *g = zoo_graph_new(1);
    const float x[] = {3, 0};
    const float gamma[] = {2}, beta[] = {0.5f}, mean[] = {1}, var[] = {3.999f};
    const zt_weight w[] = {{gamma, 1}, {beta, 1}, {mean, 1}, {var, 1}};
    const float want[] = {2.5f, -0.5f};
    check_layer(g, zoo_batch_norm(g, &(zoo_batch_norm_cfg){.epsilon = 1e-3f}),
                2, (int[]){2, 1}, x, w, 4, 2, (int[]){2, 1}, want);
    const zt_weight w2[] = {{beta, 1}, {mean, 1}, {var, 1}};
    const float want2[] = {1.5f, 0};
    check_layer(g, zoo_batch_norm(g, &(zoo_batch_norm_cfg){.no_scale = true}),
                2, (int[]){2, 1}, x, w2, 3, 2, (int[]){2, 1}, want2);
    zoo_graph_release(g);
}

/*
 * Global pools over a 2x2 map, two channels: channel 0 = [1, 2, 3, 4],
 * channel 1 = [-1, -5, -2, -3]. Average: [2.5, -2.75]; max: [4, -1].
 */
Test(hand, global_pools)
{
    zoo_graph *g = zoo_graph_new(1);
    const float x[] = {1, -1, 2, -5, 3, -2, 4, -3};
    const float avg[] = {2.5f, -2.75f}, max[] = {4, -1};
    check_layer(g, zoo_global_avg_pool2d(g, NULL), 4, (int[]){1, 2, 2, 2}, x,
                NULL, 0, 2, (int[]){1, 2}, avg);
    check_layer(g,
                zoo_global_max_pool2d(g, &(zoo_global_pool2d_cfg){.keepdims = true}),
                4, (int[]){1, 2, 2, 2}, x, NULL, 0, 4, (int[]){1, 1, 1, 2}, max);
    zoo_graph_release(g);
}

/*
 * ZeroPadding2D ((top 0, bottom 1), (left 1, right 0)) on a 2x2 map
 * [[1, 2], [3, 4]] gives 3x3:
 *   0 1 2
 *   0 3 4
 *   0 0 0
 * Cropping2D ((1, 0), (0, 1)) on 3x3 1..9 keeps rows 1-2, cols 0-1:
 *   4 5 / 7 8
 */
Test(hand, zero_padding_and_cropping)
{
    zoo_graph *g = zoo_graph_new(1);
    const float x[] = {1, 2, 3, 4};
    const float want[] = {0, 1, 2, 0, 3, 4, 0, 0, 0};
    check_layer(g, zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.pad = {0, 1, 1, 0}}),
                4, (int[]){1, 2, 2, 1}, x, NULL, 0, 4, (int[]){1, 3, 3, 1}, want);
    const float y[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float want2[] = {4, 5, 7, 8};
    check_layer(g, zoo_cropping2d(g, &(zoo_cropping2d_cfg){.crop = {1, 0, 0, 1}}),
                4, (int[]){1, 3, 3, 1}, y, NULL, 0, 4, (int[]){1, 2, 2, 1},
                want2);
    zoo_graph_release(g);
}

/*
 * Merges on two (1, 2) inputs a = [1, 2], b = [10, 20]:
 *   Add: [11, 22]; Multiply: [10, 40]; Concatenate (axis -1): [1, 2, 10, 20]
 *   CustomScaleLayer(scale 0.17): a + 0.17 b = [1 + 1.7, 2 + 3.4] = [2.7, 5.4]
 */
Test(hand, merges)
{
    const float a[] = {1, 2}, b[] = {10, 20};
    const int shape[] = {1, 2};
    struct {
        const char *what;
        int width;
        float want[4];
    } cases[] = {{"add", 2, {11, 22}},
                 {"multiply", 2, {10, 40}},
                 {"concatenate", 4, {1, 2, 10, 20}},
                 {"scaled_sum", 2, {2.7f, 5.4f}}};
    for (size_t c = 0; c < N_OF(cases); c++) {
        zoo_graph *g = zoo_graph_new(1);
        zoo_layer *l = c == 0   ? zoo_add(g, NULL)
                       : c == 1 ? zoo_multiply(g, NULL)
                       : c == 2 ? zoo_concatenate(g, NULL)
                                : zoo_scaled_sum(g, &(zoo_scaled_sum_cfg){.scale = 0.17f});
        zoo_sym *ins[2] = {zoo_input(g, 1, (int[]){2}, NULL),
                           zoo_input(g, 1, (int[]){2}, NULL)};
        zoo_sym *out = zoo_apply_n(l, ins, 2);
        cr_assert(out != NULL, "%s: %s", cases[c].what, zoo_last_error());
        zoo_model *m = zoo_model_new(ins, 2, &out, 1, NULL);
        cr_assert(m != NULL, "%s: %s", cases[c].what, zoo_last_error());
        zoo_tensor *xs[2] = {zt_tensor_or_die(2, shape, a),
                             zt_tensor_or_die(2, shape, b)};
        zoo_tensor *y = NULL;
        cr_assert_eq(zoo_model_predict(m, xs, 2, &y, 1, NULL), ZOO_OK, "%s: %s",
                     cases[c].what, zoo_last_error());
        zoo_tensor *exp = zt_tensor_or_die(2, (int[]){1, cases[c].width},
                                           cases[c].want);
        char msg[512];
        cr_expect(zt_tensor_close(y, exp, 1e-6, 1e-6, msg, sizeof msg), "%s: %s",
                  cases[c].what, msg);
        zoo_tensor_free(exp);
        zoo_tensor_free(y);
        zoo_tensor_free(xs[0]);
        zoo_tensor_free(xs[1]);
        zoo_model_free(m);
        zoo_graph_release(g);
    }
}

/*
 * Flatten keeps NHWC C order: a (1, 2, 2, 2) tensor 0..7 becomes
 * [0, 1, ..., 7]; Reshape to (4, 2) keeps the order too, and (-1,) infers 8.
 */
Test(hand, flatten_reshape_order)
{
    zoo_graph *g = zoo_graph_new(1);
    float x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (float)i;
    check_layer(g, zoo_flatten(g, NULL), 4, (int[]){1, 2, 2, 2}, x, NULL, 0,
                2, (int[]){1, 8}, x);
    check_layer(g, zoo_reshape(g, &(zoo_reshape_cfg){.rank = 2, .shape = {4, 2}}),
                4, (int[]){1, 2, 2, 2}, x, NULL, 0, 3, (int[]){1, 4, 2}, x);
    check_layer(g, zoo_reshape(g, &(zoo_reshape_cfg){.rank = 1, .shape = {-1}}),
                4, (int[]){1, 2, 2, 2}, x, NULL, 0, 2, (int[]){1, 8}, x);
    zoo_graph_release(g);
}

/*
 * Batches are independent: the same image twice in a batch of 2 gives the
 * same output twice, equal to the batch-of-1 result (conv 3x3 'same' +
 * relu with the graph's own initial weights).
 */
Test(hand, batch_items_independent)
{
    zoo_graph *g = zoo_graph_new(7);
    zoo_layer *l = zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 4,
                                                   .kernel = {3, 3},
                                                   .padding = ZOO_PAD_SAME,
                                                   .activation = ZOO_ACT_RELU});
    zoo_tensor *one = zt_tensor_or_die(4, (int[]){1, 5, 5, 3}, NULL);
    zt_fill_uniform(one, 3, -1, 1);
    zoo_tensor *two = zt_tensor_or_die(4, (int[]){2, 5, 5, 3}, NULL);
    memcpy(zoo_tensor_data(two), zoo_tensor_cdata(one), 75 * sizeof(float));
    memcpy(zoo_tensor_data(two) + 75, zoo_tensor_cdata(one), 75 * sizeof(float));

    zoo_sym *in = zoo_input(g, 3, (int[]){5, 5, 3}, NULL);
    zoo_sym *out = zoo_apply(l, in);
    zoo_model *m = zoo_model_new(&in, 1, &out, 1, NULL);
    cr_assert(m != NULL, "%s", zoo_last_error());
    zoo_tensor *y1 = NULL, *y2 = NULL;
    cr_assert_eq(zoo_model_predict(m, &one, 1, &y1, 1, NULL), ZOO_OK, "%s",
                 zoo_last_error());
    cr_assert_eq(zoo_model_predict(m, &two, 1, &y2, 1, NULL), ZOO_OK, "%s",
                 zoo_last_error());
    cr_assert_eq(zoo_tensor_size(y2), 2 * zoo_tensor_size(y1));
    size_t n = zoo_tensor_size(y1);
    char msg[512];
    cr_expect(zt_allclose(zoo_tensor_cdata(y2), zoo_tensor_cdata(y1), 1,
                          (int[]){(int)n}, 1e-6, 1e-7, msg, sizeof msg),
              "batch item 0: %s", msg);
    cr_expect(zt_allclose(zoo_tensor_cdata(y2) + n, zoo_tensor_cdata(y1), 1,
                          (int[]){(int)n}, 1e-6, 1e-7, msg, sizeof msg),
              "batch item 1: %s", msg);
    zoo_tensor_free(one);
    zoo_tensor_free(two);
    zoo_tensor_free(y1);
    zoo_tensor_free(y2);
    zoo_model_free(m);
    zoo_graph_release(g);
}
