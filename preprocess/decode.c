/*
 * Image files in, RGB out: the part of Keras's load_img that is
 * PIL.Image.open(io.BytesIO(f.read())).convert("RGB").
 *
 *  - The format comes from the first bytes, as PIL's plugins' _accept()
 *    decide it (JPEG: FF D8 FF; PNG: the 8-byte signature), never from the
 *    file name. Other formats PIL would open (GIF, BMP, TIFF, WebP...) are
 *    named in the error so the user knows what to convert.
 *  - A path is opened with O_NONBLOCK and checked with fstat before a
 *    single byte is read: directories, FIFOs, sockets and devices are
 *    refused at once instead of blocking or reading forever.
 *  - The pixel count is checked from the header against PIL's
 *    decompression-bomb limit before anything size-dependent is
 *    allocated (in the format decoders).
 */
#include "preprocess/decode_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "is a directory";
    if (S_ISFIFO(m))
        return "is a FIFO (named pipe)";
    if (S_ISSOCK(m))
        return "is a socket";
    if (S_ISCHR(m))
        return "is a character device";
    if (S_ISBLK(m))
        return "is a block device";
    return "is a special file";
}

unsigned char *zoo_pp_read_file(const char *path, const char *what,
                                size_t *size)
{
    *size = 0;
    /* O_NONBLOCK: opening a FIFO without a writer (or a device that waits
     * for carrier) returns at once; fstat then refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        zoo_error(e == ENOENT || e == ENOTDIR ? ZOO_ERR_NOT_FOUND : ZOO_ERR_IO,
                  "%s: cannot open %s: %s", path, what, strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        zoo_error(ZOO_ERR_IO, "%s: cannot stat %s: %s", path, what, strerror(e));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        zoo_error(ZOO_ERR_IO, "%s: %s, not a regular file; cannot read it as %s",
                  path, file_kind(st.st_mode),
                  strcmp(what, "image") == 0 ? "an image" : what);
        return NULL;
    }
    /* Regular files never block; clear the flag anyway for NFS & co. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);

    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory reading %s (%zu bytes)",
                  path, what, cap);
        return NULL;
    }
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) { /* the file grew since fstat */
            size_t ncap = cap * 2;
            unsigned char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                free(buf);
                close(fd);
                zoo_error(ZOO_ERR_MEMORY, "%s: out of memory reading %s", path, what);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            zoo_error(ZOO_ERR_IO, "%s: error reading %s: %s", path, what,
                      strerror(e));
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *size = n;
    return buf;
}

static const unsigned char PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Formats PIL knows but we do not decode, by their magic bytes. */
static const char *other_format(const unsigned char *d, size_t n)
{
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return "GIF";
    if (n >= 2 && memcmp(d, "BM", 2) == 0)
        return "BMP";
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
        return "TIFF";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "WebP";
    if (n >= 4 && memcmp(d, "\0\0\1\0", 4) == 0)
        return "ICO";
    if (n >= 4 && memcmp(d, "8BPS", 4) == 0)
        return "PSD";
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7')
        return "PNM";
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0)
        return "HEIF/AVIF";
    if (n >= 12 && memcmp(d, "\0\0\0\x0cjP  ", 8) == 0)
        return "JPEG 2000";
    return NULL;
}

zoo_image *zoo_image_decode(const void *data, size_t size, const char *name)
{
    if (!name)
        name = "<memory>";
    if (!data && size > 0) {
        zoo_error(ZOO_ERR_ARGUMENT, "%s: zoo_image_decode: data is NULL", name);
        return NULL;
    }
    const unsigned char *d = data;
    if (size == 0) {
        zoo_error(ZOO_ERR_FORMAT, "%s: empty file, not an image", name);
        return NULL;
    }
    if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return zoo_pp_decode_jpeg(d, size, name);
    if (size >= sizeof PNG_SIGNATURE &&
        memcmp(d, PNG_SIGNATURE, sizeof PNG_SIGNATURE) == 0)
        return zoo_pp_decode_png(d, size, name);
    const char *other = other_format(d, size);
    if (other) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "%s: %s images are not supported (only JPEG and PNG); "
                  "convert it to PNG or JPEG first",
                  name, other);
        return NULL;
    }
    if ((size < 3 && memcmp(d, "\xFF\xD8\xFF", size) == 0) ||
        (size < sizeof PNG_SIGNATURE && memcmp(d, PNG_SIGNATURE, size) == 0)) {
        zoo_error(ZOO_ERR_FORMAT, "%s: image file is truncated (%zu bytes)", name,
                  size);
        return NULL;
    }
    zoo_error(ZOO_ERR_FORMAT,
              "%s: cannot identify image file: not a JPEG or PNG image "
              "(the content starts with neither signature)",
              name);
    return NULL;
}

zoo_image *zoo_image_load(const char *path)
{
    if (!path) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_image_load: path is NULL");
        return NULL;
    }
    size_t size;
    unsigned char *data = zoo_pp_read_file(path, "image", &size);
    if (!data)
        return NULL;
    zoo_image *img = zoo_image_decode(data, size, path);
    free(data);
    return img;
}
