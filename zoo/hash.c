/* File hashes as keras.utils.get_file checks them (MD5 or SHA-256, picked
 * by the length of the expected hex digest), computed with libcrypto's EVP
 * interface. */
#include "zoo/download_internal.h"

#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int zoo_dl_hash_kind(const char *hex)
{
    if (!hex || !*hex)
        return ZOO_HASH_NONE;
    size_t n = strlen(hex);
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)hex[i])) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "hash '%.80s' is not hexadecimal (an MD5 has 32 hex "
                      "digits, a SHA-256 64)", hex);
            return -1;
        }
    if (n == 64)
        return ZOO_HASH_SHA256;
    if (n == 32)
        return ZOO_HASH_MD5;
    zoo_error(ZOO_ERR_ARGUMENT,
              "hash '%.80s' has %zu hex digits; an MD5 has 32, a SHA-256 64",
              hex, n);
    return -1;
}

const char *zoo_dl_hash_name(zoo_hash_kind kind)
{
    return kind == ZOO_HASH_SHA256 ? "sha256" : kind == ZOO_HASH_MD5 ? "md5" : "none";
}

zoo_status zoo_dl_hash_file(const char *path, zoo_hash_kind kind, char hex[65])
{
    hex[0] = '\0';
    const EVP_MD *md = kind == ZOO_HASH_SHA256 ? EVP_sha256()
                       : kind == ZOO_HASH_MD5  ? EVP_md5()
                                               : NULL;
    if (!md)
        return zoo_error(ZOO_ERR_ARGUMENT, "no hash algorithm to check %s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return zoo_error(errno == ENOENT ? ZOO_ERR_NOT_FOUND : ZOO_ERR_IO,
                         "cannot read %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!ctx || !buf || !EVP_DigestInit_ex(ctx, md, NULL)) {
        EVP_MD_CTX_free(ctx);
        free(buf);
        close(fd);
        return zoo_error(ZOO_ERR_MEMORY, "cannot start a %s digest",
                         zoo_dl_hash_name(kind));
    }
    zoo_status st = ZOO_OK;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = zoo_error(ZOO_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
            st = zoo_error(ZOO_ERR_INTERNAL, "%s digest failed on %s",
                           zoo_dl_hash_name(kind), path);
            break;
        }
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (st == ZOO_OK && !EVP_DigestFinal_ex(ctx, digest, &len))
        st = zoo_error(ZOO_ERR_INTERNAL, "%s digest failed on %s",
                       zoo_dl_hash_name(kind), path);
    if (st == ZOO_OK) {
        static const char digits[] = "0123456789abcdef";
        for (unsigned int i = 0; i < len && i < 32; i++) {
            hex[2 * i] = digits[digest[i] >> 4];
            hex[2 * i + 1] = digits[digest[i] & 15];
        }
        hex[2 * (len < 32 ? len : 32)] = '\0';
    }
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    return st;
}

bool zoo_dl_file_matches(const char *path, const char *expected, char got[65])
{
    char local[65];
    if (!got)
        got = local;
    got[0] = '\0';
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    int kind = zoo_dl_hash_kind(expected);
    if (kind < 0)
        return false;
    if (kind == ZOO_HASH_NONE)
        return true;
    if (zoo_dl_hash_file(path, (zoo_hash_kind)kind, got) != ZOO_OK)
        return false;
    return strcasecmp(got, expected) == 0;
}
