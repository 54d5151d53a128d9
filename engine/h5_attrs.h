/*
 * Engine-private: small HDF5 helpers for the Keras .h5 reader and writer
 * (engine/h5_weights.c): silencing HDF5's error printing, turning its
 * error stack into a short reason, and Keras's string-list attributes
 * (`layer_names`, `weight_names`, chunked as name0, name1, ... when big).
 *
 * Every function here expects HDF5's automatic error printing to be off
 * (zoo_h5_quiet_begin) and reports failures through zoo_error().
 */
#ifndef ZOO_ENGINE_H5_ATTRS_H
#define ZOO_ENGINE_H5_ATTRS_H

#include "engine/engine.h"

#include <hdf5.h>

/* HDF5 prints its error stack to stderr by default; the library must not
 * print. begin saves the current handler and turns printing off; end puts
 * the saved handler back. */
typedef struct {
    H5E_auto2_t func;
    void *data;
} zoo_h5_quiet;
void zoo_h5_quiet_begin(zoo_h5_quiet *q);
void zoo_h5_quiet_end(const zoo_h5_quiet *q);

/* The most specific description on HDF5's error stack ("truncated file:
 * eof = ...", "file signature not found"), or "unknown HDF5 error";
 * clears the stack. Returns buf. */
const char *zoo_h5_reason(char *buf, size_t size);

/* A datatype in words for messages: "32-bit signed integer", "64-bit
 * float", "string", "compound". Returns buf. */
const char *zoo_h5_type_desc(hid_t type, char *buf, size_t size);

/* A list of strings, each malloc'ed and NUL-terminated. */
typedef struct {
    char **v;
    int n;
} zoo_h5_strs;
void zoo_h5_strs_free(zoo_h5_strs *s);

/*
 * Reads a string-list attribute as Keras's load_attributes_from_hdf5_group
 * does: `name` if present, else name0, name1, ... concatenated until the
 * first missing index. Accepts fixed-length (NULLPAD, NULLTERM, SPACEPAD)
 * and variable-length strings, ASCII or UTF-8, scalar or 1-D; trailing
 * NULs (and spaces for SPACEPAD) are stripped. A zero-length attribute of
 * any type (h5py writes [] as an empty float64 array) or a null dataspace
 * is an empty list. `*found` is false (and ZOO_OK returned) when neither
 * form exists. `where` names the object in messages ("w.h5: group
 * '/conv1'").
 */
zoo_status zoo_h5_read_string_list(hid_t obj, const char *name,
                                   const char *where, zoo_h5_strs *out,
                                   bool *found);

/* Reads one string attribute (scalar or a 1-element array). *value is
 * malloc'ed; NULL when the attribute does not exist. */
zoo_status zoo_h5_read_string(hid_t obj, const char *name, const char *where,
                              char **value);

/* Keras's HDF5 object-header budget for one attribute. */
#define ZOO_H5_ATTR_LIMIT 64512

/*
 * Writes a string-list attribute as Keras's save_attributes_to_hdf5_group
 * with h5py 2 (the writer of the official files): a 1-D fixed-length
 * NULLPAD ASCII array as long as the longest string; split with NumPy's
 * array_split into name0, name1, ... until every piece is at most
 * ZOO_H5_ATTR_LIMIT bytes. An empty list is written as h5py writes [] (an
 * empty float64 array).
 */
zoo_status zoo_h5_write_string_list(hid_t obj, const char *name,
                                    const char *const *v, int n,
                                    const char *where);

/* A scalar fixed-length NULLPAD ASCII string attribute (h5py 2's bytes). */
zoo_status zoo_h5_write_string(hid_t obj, const char *name,
                               const char *value, const char *where);

/* A scalar variable-length string attribute, as h5py 3 writes Python
 * bytes (ASCII) or str (UTF-8): ASCII when every byte is, else UTF-8.
 * For long values (a model's JSON config): the string lives in the
 * file's heap, so HDF5's 64 KiB object-header limit does not apply. */
zoo_status zoo_h5_write_vlen_string(hid_t obj, const char *name,
                                    const char *value, const char *where);

#endif
