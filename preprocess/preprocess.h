/*
 * zoo preprocess: images in, network inputs and labels out, the way
 * Keras's load_img (PIL), preprocess_input and decode_predictions do it.
 * Installed as <zoo/preprocess.h>.
 */
#ifndef ZOO_PREPROCESS_H
#define ZOO_PREPROCESS_H

#include <zoo/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 8-bit RGB pixels, row-major, height x width x 3. */
typedef struct {
    int width;
    int height;
    unsigned char *rgb;
} zoo_image;

/* Decodes a JPEG or PNG file (format by content) into RGB as PIL's
 * Image.open(path).convert("RGB") does, byte for byte (alpha dropped,
 * gray replicated, palette expanded, 16-bit gray clipped at 255 and other
 * 16-bit types cut to their high byte, CMYK converted; EXIF orientation
 * not applied, as Keras's load_img does not). Like PIL, a truncated file
 * is an error but libjpeg's recoverable warnings are not. Refuses
 * non-regular files without blocking, formats other than JPEG and PNG,
 * and images over PIL's decompression-bomb limit (178,956,970 pixels)
 * from the header. */
zoo_image *zoo_image_load(const char *path);
/* Same, from bytes in memory; `name` is used in messages. */
zoo_image *zoo_image_decode(const void *data, size_t size, const char *name);
void zoo_image_free(zoo_image *img);

typedef enum {
    ZOO_RESIZE_NEAREST = 0, /* Keras's default */
    ZOO_RESIZE_BILINEAR,
    ZOO_RESIZE_BICUBIC,
} zoo_resize_filter;

/* PIL's img.resize((width, height), filter), as load_img(target_size=...)
 * calls it: no-op copy when the size already matches. With
 * keep_aspect_ratio, the centred crop box of the target's aspect is
 * resized (Keras's keep_aspect_ratio=True). */
zoo_image *zoo_image_resize(const zoo_image *img, int width, int height,
                            zoo_resize_filter filter, bool keep_aspect_ratio);

/* preprocess_input modes: "caffe" (RGB->BGR, minus ImageNet means),
 * "tf" (x / 127.5 - 1), "torch" (x / 255, minus mean, over std). */
typedef enum {
    ZOO_PREPROCESS_CAFFE,
    ZOO_PREPROCESS_TF,
    ZOO_PREPROCESS_TORCH,
} zoo_preprocess_mode;

/* "caffe" / "tf" / "torch" -> mode; -1 if unknown. */
int zoo_preprocess_parse(const char *name);
/* In place over n_pixels RGB triples of floats in [0, 255]. */
void zoo_preprocess_input(zoo_preprocess_mode mode, float *x, size_t n_pixels);
/* img -> (height, width, 3) floats, preprocessed, written to `out`,
 * which holds width * height * 3 floats. */
void zoo_image_to_input(const zoo_image *img, zoo_preprocess_mode mode, float *out);

/* ImageNet class index (Keras's imagenet_class_index.json). */
typedef struct zoo_labels zoo_labels;
zoo_labels *zoo_labels_load(const char *json_path);
void zoo_labels_free(zoo_labels *labels);
int zoo_labels_count(const zoo_labels *labels);
const char *zoo_labels_wnid(const zoo_labels *labels, int index);
const char *zoo_labels_name(const zoo_labels *labels, int index);

typedef struct {
    int index;
    float score;
} zoo_prediction;

/* decode_predictions' ranking: the `top` highest scores of one row,
 * highest first; ties keep Keras's order (argsort()[-top:][::-1], then a
 * stable sort by score, as NumPy 1.24's argsort orders exact ties).
 * Returns how many were written (min(top, n)). */
int zoo_top_k(const float *scores, int n, int top, zoo_prediction *out);

/* ------------------------------------------------------------------ */
/* Image-folder datasets (Keras's image_dataset_from_directory layout)  */
/* ------------------------------------------------------------------ */

/* Random augmentation applied to training samples when the training loop
 * asks for it (zoo_load_ctx.augment), in this order on the resized image
 * before preprocess_input; every draw comes from the batch seed and the
 * sample's position, so a seed replays exactly. Zero fields: off. */
typedef struct {
    bool flip;          /* horizontal flip with probability 1/2 */
    float crop;         /* random crop keeping >= (1 - crop) of each side,
                           resized back (bilinear) */
    float rotation;     /* degrees: uniform in [-rotation, rotation],
                           bilinear, edges filled with the nearest pixel */
    float brightness;   /* add uniform [-b, b] * 255 to every channel,
                           clipped to [0, 255] */
} zoo_augment;

typedef struct {
    int height, width;          /* target size (required) */
    zoo_preprocess_mode mode;   /* preprocess_input of the chosen model */
    zoo_resize_filter filter;   /* NEAREST by default, as load_img */
    zoo_augment augment;
    /* Called once per file that cannot be used (not an image zoo decodes,
     * unreadable): such files are skipped and counted. NULL: silent. */
    void (*warn)(const char *message, void *user);
    void *user;
} zoo_image_folder_opts;

typedef struct zoo_image_folder zoo_image_folder;

/* Scans `dir`: each immediate subfolder (sorted by name, byte order;
 * names starting with '.' skipped) is a class, index = position; its
 * files (.jpg .jpeg .png, any case; found recursively, sorted by path in
 * byte order) are the samples, listed class after class. Files that are
 * not decodable images are skipped (checked from their headers here, and
 * again when a batch is read). Fewer than two classes, a class with no
 * images, or no images at all is an error naming the folder. */
zoo_image_folder *zoo_image_folder_open(const char *dir,
                                        const zoo_image_folder_opts *opts);
void zoo_image_folder_free(zoo_image_folder *f);
int zoo_image_folder_count(const zoo_image_folder *f);        /* samples */
int zoo_image_folder_skipped(const zoo_image_folder *f);      /* files dropped so far */
int zoo_image_folder_class_count(const zoo_image_folder *f);
const char *zoo_image_folder_class_name(const zoo_image_folder *f, int i);
const char *zoo_image_folder_path(const zoo_image_folder *f, int i);
int zoo_image_folder_label(const zoo_image_folder *f, int i);
/* The folder as a dataset for zoo_model_fit: x (height, width, 3)
 * preprocessed, y (1,) the class index as a float (sparse labels).
 * Images are decoded per batch (streaming: nothing is kept in memory
 * between batches); images already at the target size are not resampled.
 * The dataset borrows `f`, which must outlive it. */
zoo_dataset *zoo_image_folder_dataset(zoo_image_folder *f);

/* Applies `aug` to an RGB float image (height, width, 3) in [0, 255] in
 * place, drawing from a generator seeded with `seed`. */
zoo_status zoo_augment_apply(const zoo_augment *aug, float *rgb, int height,
                             int width, unsigned long long seed);

#ifdef __cplusplus
}
#endif

#endif /* ZOO_PREPROCESS_H */
