# ijepa.c build.  make            -> build/ijepa, build/libijepa.a, build/tests/*
#                 make test       -> build and run every test (normal build)
#                 make test SAN=1 -> the same under AddressSanitizer + UBSan (build-san/)
#                 make MPI=1      -> the data-parallel build with mpicc (build-mpi/: mpirun -np N build-mpi/ijepa train)
#                 make test MPI=1 -> that build and the multi-process tests (tests/mpi/, OpenMPI)
#                 make check      -> all three test runs above (what CI runs)
CC      ?= cc
OPT     ?= -O2 -march=native
BUILD   := build
ifeq ($(SAN),1)
# No -march=native here: this build runs the BLAS fallback of the blocks' products (kernels/gemm.h),
# the normal build the vector kernel.
BUILD   := build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
# Without MPI, src/dist compiles to the single-process no-ops.
DIST    := -DIJ_MPI=0
ifeq ($(MPI),1)
BUILD   := build-mpi
CC      := mpicc
DIST    := -DIJ_MPI=1
endif
# -fPIC: the same objects make the static library, the program and the shared library (libijepa.so,
# for the Python package and `make install`); on x86-64 it costs nothing measurable (docs/performance.md).
CFLAGS  := -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -fopenmp -fPIC -Iinclude -Isrc -MMD -MP $(OPT) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(DIST)
# OpenBLAS built for OpenMP shares our OpenMP thread pool, so BLAS and our own
# parallel loops never run more threads than cores (the pthread build would spin
# its own pool beside OpenMP's). Falls back to the default OpenBLAS if absent.
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
comma   := ,
BLAS    := $(if $(wildcard $(BLAS_DIR)/libopenblas.so),-L$(BLAS_DIR) -Wl$(comma)-rpath$(comma)$(BLAS_DIR) -lopenblas,-lopenblas)
LDLIBS  := $(BLAS) -ljansson -lyaml -ljpeg -lpng -lz -lm -fopenmp
ifeq ($(SAN),1)
LDLIBS  += -fsanitize=address,undefined
endif

LIB_SRC  := $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
CLI_SRC  := $(shell find src/cli -name '*.c' | sort)
TEST_SRC := $(wildcard tests/test_*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

all: $(BUILD)/ijepa $(BUILD)/libijepa.so $(TESTS)

$(BUILD)/libijepa.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libijepa.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libijepa.so.0 -o $@ $^ $(LDLIBS)

# make install PREFIX=/usr/local: the program, both libraries, the headers (include/ijepa/, with the
# src/ headers ijepa.h includes) and a pkg-config file (pkg-config --cflags --libs ijepa).
PREFIX  ?= /usr/local
install: $(BUILD)/ijepa $(BUILD)/libijepa.a $(BUILD)/libijepa.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/ijepa
	install -m 755 $(BUILD)/ijepa $(DESTDIR)$(PREFIX)/bin/ijepa
	install -m 644 $(BUILD)/libijepa.a $(DESTDIR)$(PREFIX)/lib/libijepa.a
	install -m 755 $(BUILD)/libijepa.so $(DESTDIR)$(PREFIX)/lib/libijepa.so.0
	ln -sf libijepa.so.0 $(DESTDIR)$(PREFIX)/lib/libijepa.so
	install -m 644 include/ijepa.h $(DESTDIR)$(PREFIX)/include/ijepa/ijepa.h
	cd src && find . -name '*.h' -not -path './cli/*' | while read -r h; do \
	    install -D -m 644 "$$h" "$(DESTDIR)$(PREFIX)/include/ijepa/$$h"; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*IJ_VERSION "\(.*\)"/\1/p' src/core/version.h)|' \
	    -e 's|@LIBS@|$(LDLIBS)|' ijepa.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ijepa.pc

$(BUILD)/ijepa: $(CLI_OBJ) $(BUILD)/libijepa.a
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testlib.o $(BUILD)/libijepa.a
	$(CC) -o $@ $^ $(LDLIBS)

# Objects depend on the flags they were compiled with: a change of CFLAGS rebuilds them.
$(BUILD)/.cflags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS)' > $@

$(BUILD)/%.o: %.c $(BUILD)/.cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

ifeq ($(MPI),1)
# the unit tests are the same code as in the other builds: here only the program and tests/mpi/
test: $(BUILD)/ijepa
	@tests/run.sh $(BUILD) tests/mpi/test_*.sh
else
test: all
	@tests/run.sh $(BUILD)
endif

check:
	$(MAKE) test
	$(MAKE) test SAN=1
	$(MAKE) test MPI=1

clean:
	rm -rf build build-san build-mpi

.PHONY: all test check clean install FORCE
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
