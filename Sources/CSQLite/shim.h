#ifndef ORCHION_CSQLITE_SHIM_H
#define ORCHION_CSQLITE_SHIM_H
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a cast macro Swift cannot import: tells sqlite3_bind_*
   to copy the bytes before returning. No logic. */
static inline void (*orchion_sqlite_transient(void))(void *) { return SQLITE_TRANSIENT; }
#endif
