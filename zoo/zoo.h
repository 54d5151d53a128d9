/*
 * zoo: pretrained Keras-application models in C.
 * The umbrella header: include this one and link libzoo
 * (pkg-config zoo, or CMake's find_package(zoo) and zoo::zoo).
 */
#ifndef ZOO_ZOO_H
#define ZOO_ZOO_H

#include <zoo/engine.h> /* tensors, graphs, layers, models, predict */
#include <zoo/nets.h>   /* the architectures */
#include <zoo/models.h> /* the registry: names, sizes, weight files */
#include <zoo/preprocess.h> /* images, preprocess_input, labels */
#include <zoo/download.h>   /* weights and labels, fetched and cached */

#endif /* ZOO_ZOO_H */
