// Everything is inline in include/worker_sync.h; a C target needs one source file.
#include "worker_sync.h"
