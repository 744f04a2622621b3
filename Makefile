# gatewayd: `make run` serves on the embedded SQLite default; `make test` runs the whole suite
# on SQLite and on MariaDB/MySQL, after scripts/ensure-test-deps.sh has installed or started what
# the tests need (MariaDB, the Galera provider, chromium); a missing piece fails, never skips.

GO        ?= go
BIN       := bin/gatewayd
MYSQL_DSN ?= mysql://root@127.0.0.1:3306/
PKGS      := ./...

.PHONY: all build run test test-deps test-sqlite test-mysql test-cluster vet fmt bench soak soak-cluster clean

all: build

# With cgo and a C compiler, the binary is built with BoringCrypto (shipped inside the Go
# toolchain): RSA DKIM signatures take about 40 % less CPU. Without them (CGO_ENABLED=0, no
# cc), the pure-Go build: the same behaviour, slower signing. GOEXPERIMENT= overrides.
BORING    ?= $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v cc >/dev/null 2>&1 && echo boringcrypto)

build:
	GOEXPERIMENT=$(BORING) $(GO) build -o $(BIN) ./cmd/gatewayd

run: build
	./$(BIN) serve

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)

test: vet test-deps test-sqlite test-mysql

test-deps:
	scripts/ensure-test-deps.sh

test-sqlite:
	GATEWAY_TEST_DB=sqlite $(GO) test -count=1 -timeout 15m $(PKGS)

# The packages whose tests touch a database run again on MySQL/MariaDB.
test-mysql:
	MYSQL_DSN=$(MYSQL_DSN) scripts/test-mysql.sh

# TestGaleraCluster alone (make test runs it with the rest): a private three-node Galera
# cluster (scripts/cluster.sh), about 1-3 minutes.
test-cluster:
	scripts/ensure-test-deps.sh mariadb galera
	GATEWAY_TEST_DB=sqlite $(GO) test -count=1 -timeout 10m -run '^TestGaleraCluster$$' -v ./app/

bench:
	scripts/bench.sh

# Crash, fault and two-node tests plus longer fuzzing (a few minutes; see docs/benchmarks.md).
soak:
	scripts/soak.sh

# Three gatewayd nodes on three Galera nodes under HTTP and SMTP load, with a gatewayd
# SIGKILLed, a database node stopped and started, a gatewayd restarted; then the same run on
# one MariaDB for the rate (see docs/cluster.md).
soak-cluster:
	scripts/soak-cluster.sh

clean:
	rm -rf bin
