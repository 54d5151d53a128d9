/* tools-private: what `zoo classify` and `zoo features` share. The images
 * a command line names (files, --list FILE, or one DIR), batches of them
 * loaded as Keras's load_img + preprocess_input would, with one error slot
 * per image, a progress bar, and small argument helpers. */
#ifndef ZOO_TOOLS_IMAGES_H
#define ZOO_TOOLS_IMAGES_H

#include <zoo/zoo.h>

#include <stdbool.h>
#include <stdio.h>

/* ------------------------------------------------------------------ */
/* Arguments                                                           */
/* ------------------------------------------------------------------ */

/* "--name VALUE" or "--name=VALUE": the value, advancing *i past it; NULL
 * when argv[*i] is not this option (or its value is missing: then
 * *missing is set). */
const char *tool_option_value(int argc, char **argv, int *i, const char *name,
                              bool *missing);
/* A decimal integer in [1, max]; false if malformed or out of range. */
bool tool_positive_int(const char *s, int max, int *out);

/* The directory that would hold `path` exists and is writable and `path`
 * is not a directory: checked before any work. False after printing why
 * (prefixed by "zoo CMD: "). */
bool tool_output_writable(const char *cmd, const char *path);

/* The registry model `name` and its preprocess mode. Returns -1 on
 * success, else the exit code after printing why (a model file, which is
 * not supported yet, gets its own message). */
int tool_find_model(const char *cmd, const char *name, const zoo_model_info **info,
                    zoo_preprocess_mode *mode);

/* ------------------------------------------------------------------ */
/* Which images                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    char **paths; /* malloc'd strings */
    int n;
} image_list;

/* The images a command names, in order:
 *  - list_file (--list FILE): one path a line (relative paths as given,
 *    i.e. from the current directory); empty lines are skipped and a
 *    trailing "\r" is dropped; "-" reads standard input;
 *  - a single positional argument that is a directory (DIR): its regular
 *    files named *.jpg, *.jpeg or *.png (any case; dot-files skipped),
 *    sorted by name (byte order), not recursive;
 *  - otherwise the arguments as given. Nothing is checked here: a missing
 *    file, a directory among several arguments, a FIFO... each fails when
 *    its batch is loaded, on its own.
 * Returns -1 on success; else prints why ("zoo CMD: ...") and returns the
 * exit code (2 usage, 1 run-time). */
int image_list_expand(const char *cmd, char **args, int n_args,
                      const char *list_file, image_list *out);
void image_list_free(image_list *l);

/* Why `path` cannot be an image file, from its metadata alone (never
 * opened, so a FIFO cannot block): NULL when it is a regular file, else a
 * reason written to buf ("no such file", "is a directory ...", "is a FIFO
 * (named pipe), not a regular file", "dangling symbolic link ...",
 * "symbolic link loop ..."). */
const char *image_path_problem(const char *path, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Loading a batch                                                     */
/* ------------------------------------------------------------------ */

typedef struct {
    int n;        /* images asked for */
    int n_ok;     /* how many loaded */
    zoo_tensor *x; /* (n_ok, size, size, 3), preprocessed; NULL if n_ok == 0 */
    int *row;     /* row[i]: image i's row in x, or -1 when it failed */
    char **error; /* error[i]: why image i failed (malloc'd), or NULL */
} image_batch;

/* Loads paths[0..n) as load_img(path, target_size=(size, size)) (decode,
 * convert("RGB"), PIL NEAREST resize, no aspect kept) followed by
 * preprocess_input(mode), on up to `threads` threads. A failing image
 * gets its error slot and no row; it never affects the others. Returns
 * false only when memory runs out (then nothing is loaded). */
bool image_batch_load(const char *const *paths, int n, int size,
                      zoo_preprocess_mode mode, int threads, image_batch *b);
/* Same for a height x width input (x is (n_ok, height, width, 3)). */
bool image_batch_load_hw(const char *const *paths, int n, int height, int width,
                         zoo_preprocess_mode mode, int threads, image_batch *b);
void image_batch_free(image_batch *b);

/* One stderr line for a failed image: "zoo CMD: PATH: REASON" (the path
 * is not repeated when the reason already starts with it). */
void image_report_failure(const char *cmd, const char *path, const char *reason);

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

/* A one-line bar on stderr, drawn only when stderr is a terminal and
 * there are more images than one batch holds. */
typedef struct {
    bool on;
    int total;
    int done;
    bool drawn;
} progress_bar;

void progress_start(progress_bar *p, int total, int batch);
void progress_set(progress_bar *p, int done);
/* Erases the bar (before anything else is printed); the next
 * progress_set redraws it. */
void progress_hide(progress_bar *p);
void progress_end(progress_bar *p);

#endif
