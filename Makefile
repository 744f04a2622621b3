# gatewayd: `make run` serves on the embedded SQLite default; `make test` runs the whole suite
# on SQLite and on MariaDB/MySQL (started and given a throwaway database by scripts/test-mysql.sh).

GO        ?= go
BIN       := bin/gatewayd
MYSQL_DSN ?= mysql://root@127.0.0.1:3306/
PKGS      := ./...

.PHONY: all build run test test-sqlite test-mysql vet fmt bench soak clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gatewayd

run: build
	./$(BIN) serve

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)

test: vet test-sqlite test-mysql

test-sqlite:
	GATEWAY_TEST_DB=sqlite $(GO) test -count=1 -timeout 15m $(PKGS)

# The packages whose tests touch a database run again on MySQL/MariaDB.
test-mysql:
	MYSQL_DSN=$(MYSQL_DSN) scripts/test-mysql.sh

bench:
	scripts/bench.sh

# Crash, fault and two-node tests plus longer fuzzing (a few minutes; see docs/benchmarks.md).
soak:
	scripts/soak.sh

clean:
	rm -rf bin
