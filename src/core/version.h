/* version.h: the version of ijepa.c (`ijepa --version`; IJ_VERSION for programs that link the library). */
#ifndef IJEPA_CORE_VERSION_H
#define IJEPA_CORE_VERSION_H

#define IJ_VERSION "0.1.0"

#endif
