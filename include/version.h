/* version: the one place the release number is written (--version, ctl status, metrics). */
#ifndef BLOKIR_VERSION_H
#define BLOKIR_VERSION_H

#define BLOKIR_VERSION "0.1.0"

#endif
