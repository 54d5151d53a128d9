/* compile / fit / evaluate (in progress). */
#include "engine/model.h"

#include <stdlib.h>

void zoo_training_free(struct zoo_training *t)
{
    free(t);
}
