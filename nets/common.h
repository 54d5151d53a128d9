/* nets-private: what every architecture file needs. */
#ifndef ZOO_NETS_COMMON_H
#define ZOO_NETS_COMMON_H

#include "nets/nets.h"

/* Resolves the input shape as Keras's obtain_input_shape does: the default
 * size with the top, any size >= min_size without it. Fills shape[3]. */
zoo_status zoo_net_input_shape(const zoo_net_opts *o, int default_size,
                               int min_size, int shape[3]);

/* The top of most applications: GAP + Dense "predictions" with the top,
 * else the optional pooling. avg/max names are Keras's per model. */
zoo_sym *zoo_net_head(zoo_graph *g, zoo_sym *x, const zoo_net_opts *o,
                      const char *avg_name, const char *max_name);

/* Keras computes with the Python float the user typed (0.75); opts holds
 * a C float. The shortest decimal that reads back as the same float is
 * that typed value, and parsed as a double it gives Keras's arithmetic
 * exactly (int(filters * alpha) truncates, so 1 ulp can matter). */
double zoo_net_alpha_as_typed(float alpha);

/* A graph for a builder, seeded and initialised as `o` asks. */
zoo_graph *zoo_net_graph(const zoo_net_opts *o);

/* Wraps up: model from input to x, graph released to the model. */
zoo_model *zoo_net_finish(zoo_graph *g, zoo_sym *in, zoo_sym *x, const char *name);

#endif
