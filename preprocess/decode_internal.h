/* preprocess-private: what the decoders (decode.c, decode_jpeg.c,
 * decode_png.c) and labels.c share. Not installed. */
#ifndef ZOO_PREPROCESS_DECODE_INTERNAL_H
#define ZOO_PREPROCESS_DECODE_INTERNAL_H

#include "preprocess/preprocess.h"

#include <stddef.h>
#include <stdint.h>

/* PIL's decompression-bomb limit: Image.MAX_IMAGE_PIXELS is
 * 1024 * 1024 * 1024 // 4 // 3 = 89,478,485 (a warning above it) and
 * Image.open raises DecompressionBombError above twice that. */
#define ZOO_MAX_IMAGE_PIXELS 178956970ULL

/* Fails (message naming `name`) when width x height is empty or over
 * ZOO_MAX_IMAGE_PIXELS; checked from the header, before any allocation
 * that depends on the size. */
bool zoo_pp_check_pixels(uint64_t width, uint64_t height, const char *name,
                         const char *format);

/* A zero-filled width x height RGB image (sizes already checked). */
zoo_image *zoo_pp_image_alloc(int width, int height, const char *name);

/* Whole contents of a regular file, malloc'ed (one extra NUL byte after
 * the data). Opens with O_NONBLOCK and checks fstat before reading, so
 * directories, FIFOs, sockets and devices are refused without blocking.
 * `what` names the kind of file in messages ("image", "labels file").
 * An empty file is returned as size 0 (the caller decides). */
unsigned char *zoo_pp_read_file(const char *path, const char *what,
                                size_t *size);

/* Format decoders: bytes known to start with the format's signature ->
 * RGB as PIL's open(...).convert("RGB"). NULL with a message on failure. */
zoo_image *zoo_pp_decode_jpeg(const unsigned char *data, size_t size,
                              const char *name);
zoo_image *zoo_pp_decode_png(const unsigned char *data, size_t size,
                             const char *name);

#endif
