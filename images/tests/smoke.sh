#!/bin/sh
# Smoke test of the default guest set: modules loaded, devices probed, data disk readable.
# Each check prints "ok NAME" or "not ok NAME"; the exit status counts the failures.
failures=0
check() {
    name=$1
    shift
    if "$@" >/dev/null 2>&1; then
        echo "ok $name"
    else
        echo "not ok $name"
        failures=$((failures + 1))
    fi
}

for module in $(cat /lib/modules/load-order); do
    check "module $module" grep -q "^$module " /proc/modules
done
if [ -b /dev/vda ]; then
    check "disk hello.txt" grep -qx "hello from the hv data disk" /mnt/hello.txt
fi
exit $failures
