.PHONY: run test unit lint e2e tools clean

## make run: the local stack (moto, simulators, functions under cargo lambda watch)
run:
	scripts/stack.sh

## make test: everything CI runs (installs its own tools)
test:
	scripts/test.sh

tools:
	scripts/tools.sh

clean:
	rm -rf .stack .tools target
