/* The image buffer itself: its size check (PIL's decompression-bomb
 * limit), allocation and release, shared by every decoder. */
#include "preprocess/decode_internal.h"

#include <limits.h>
#include <stdlib.h>

bool zoo_pp_check_pixels(uint64_t width, uint64_t height, const char *name,
                         const char *format)
{
    if (width == 0 || height == 0) {
        zoo_error(ZOO_ERR_FORMAT, "%s: %s header gives an empty image (%llux%llu)",
                  name, format, (unsigned long long)width,
                  (unsigned long long)height);
        return false;
    }
    /* Both are below 2^32 (they come from 16- or 31-bit header fields), so
     * the product cannot overflow 64 bits. */
    if (width > INT_MAX || height > INT_MAX ||
        width * height > ZOO_MAX_IMAGE_PIXELS) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "%s: %s image of %llux%llu = %llu pixels exceeds the limit of "
                  "%llu pixels (PIL's decompression-bomb limit); refusing to "
                  "decode it",
                  name, format, (unsigned long long)width,
                  (unsigned long long)height,
                  (unsigned long long)(width * height), ZOO_MAX_IMAGE_PIXELS);
        return false;
    }
    return true;
}

zoo_image *zoo_pp_image_alloc(int width, int height, const char *name)
{
    size_t n = (size_t)width * (size_t)height * 3;
    zoo_image *img = malloc(sizeof *img);
    unsigned char *px = img ? calloc(n, 1) : NULL;
    if (!px) {
        free(img);
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory for a %dx%d RGB image (%zu bytes)",
                  name, width, height, n);
        return NULL;
    }
    img->width = width;
    img->height = height;
    img->rgb = px;
    return img;
}

void zoo_image_free(zoo_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    free(img);
}
