#!/bin/bash
# Nested-KVM harness (TESTING.md section 4): proves the KVM backend on a host without /dev/kvm by booting an
# L1 Linux under QEMU TCG with emulated AMD SVM, loading kvm-amd in it and running hv's KVM tests there.
#
#   tests/nested/run.sh [TEST...]     TEST: selftest qemu-linux hv-multiboot hv-linux hv-virtio hv-net hv-bios
#                                     (default: all)
#
# selftest      tests/nested/kvm-selftest drives Hypervisor.Kvm directly: multiboot guest exit status,
#               triple fault, kick, state round trip, ioeventfd, irq routing, dirty log, SMP INIT/SIPI, and
#               linux-smp: the L2 Linux below with 2 vCPUs on hv's loader, tables and UART (LinuxMachine.cs)
# qemu-linux    qemu-system-x86_64 -accel kvm boots Debian's kernel + a busybox initramfs with 2 vCPUs in L1
# hv-multiboot  `hv run --accel kvm` on the multiboot test guests (needs the hv CLI and machine)
# hv-linux      `hv run --accel kvm --cpus 2` on the same Linux guest as qemu-linux
# hv-virtio     the Debian guest of images/ (hv.test=virtio) with an ext4 --disk and a second console port:
#               reads the host's file, writes a new one (L1 checks it with e2fsck -fn and debugfs), /dev/hwrng,
#               text both ways on the port
# hv-net        two hv guests on a VM-to-VM link (--net socket) ping each other; a third pings L1 through TAP
# hv-bios       `hv run --accel kvm --bios`: Debian's SeaBIOS with 2 vCPUs boots the MBR test guest from a virtio disk, and
#               pam.bin checks the reset state and the PAM shadow RAM (guest-drivers/testguest/build-bios-guests.sh)
# hv-dd         (not in the default set) dd of 256 MiB to and from a virtio disk; prints NESTED-DD lines
# compare       (not in the default set) the linux-smp guest under hv's KVM backend and under QEMU, 3 rounds
#               alternated; prints NESTED-TIME lines and the ratio of the medians
#
# Environment: HV_NESTED_HV=try (default: hv-* results are reported but not counted while the machine is being
# written), require (hv-* failures and skips fail the run) or off. HV_NESTED_TIMEOUT (s, default 900).
# HV_NESTED_CPU: the L1 CPU model (default qemu64,+svm,+npt).
# Output: tests/nested/out/ (git-ignored); the L1 serial log is out/l1-serial.log.
# Exit status 0 when every counted test passed; the last line is "N passed, N failed".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here/out
cache=$here/cache
root=$out/l1-root
hv_mode=${HV_NESTED_HV:-try}
timeout_s=${HV_NESTED_TIMEOUT:-900}
l1_cpu=${HV_NESTED_CPU:-qemu64,+svm,+npt}
tests=("$@")
[[ ${#tests[@]} -gt 0 ]] || tests=(selftest qemu-linux hv-multiboot hv-linux hv-virtio hv-net hv-bios)

log() { printf 'nested: %s\n' "$*" >&2; }
die() { printf 'tests/nested/run.sh: error: %s\n' "$*" >&2; exit 1; }
wants() { local t; for t in "${tests[@]}"; do [[ $t == "$1" ]] && return 0; done; return 1; }

ensure_tools() {
    local missing=() tool
    declare -A package_of=([qemu-system-x86_64]=qemu-system-x86 [nasm]=nasm [ld]=binutils [cpio]=cpio
        [busybox]=busybox-static [dpkg-deb]=dpkg [gcc]=gcc [mke2fs]=e2fsprogs [debugfs]=e2fsprogs [ip]=iproute2)
    for tool in "${!package_of[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
    done
    [[ -f /usr/share/seabios/bios-256k.bin ]] || missing+=(seabios)
    [[ ${#missing[@]} -eq 0 ]] && return
    [[ $(id -u) -eq 0 ]] || die "missing tools; install: sudo apt-get install ${missing[*]}"
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The L1 kernel and its kvm modules must come from one package; reuse the one images/build.sh fetched.
fetch_kernel() {
    local deb
    deb=$(ls "$repo"/images/cache/debs/linux-image-6.1.0-*-amd64_*.deb "$cache"/linux-image-6.1.0-*-amd64_*.deb \
        2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z $deb ]]; then
        local pkg
        pkg=${HV_KERNEL_PACKAGE:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6/ { print $2; exit }')}
        if [[ -z $pkg ]]; then apt-get update -qq; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/ { print $2; exit }'); fi
        [[ -n $pkg ]] || die "cannot find the Debian kernel package (linux-image-amd64's dependency)"
        log "downloading $pkg"
        mkdir -p "$cache"
        (cd "$cache" && apt-get download "$pkg" 2>/dev/null) || die "apt-get download $pkg failed"
        deb=$(ls "$cache"/"$pkg"_*.deb | tail -n 1)
    fi
    kernel_dir=$cache/kernel-$(basename "$deb" .deb)
    if [[ ! -d $kernel_dir ]]; then
        log "extracting $(basename "$deb")"
        dpkg-deb -x "$deb" "$kernel_dir.tmp" && mv "$kernel_dir.tmp" "$kernel_dir"
    fi
    vmlinuz=$(ls "$kernel_dir"/boot/vmlinuz-* | head -n 1)
    kernel_version=${vmlinuz##*/vmlinuz-}
    moddir=$kernel_dir/lib/modules/$kernel_version/kernel
}

# Copies a file and the shared libraries ldd lists for it to the same paths under $root.
copy_with_libs() {
    local file=$1 lib
    install -D -m 0755 "$file" "$root$file"
    for lib in $(ldd "$file" | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }'); do
        [[ -e $root$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    done
}

build_guests() {
    log "building test guests"
    "$repo"/guest-drivers/testguest/build.sh "$root/guests" >/dev/null
    "$repo"/guest-drivers/testguest/build-bios-guests.sh "$root/guests" >/dev/null
    install -D -m 0644 /usr/share/seabios/bios.bin "$root/bios/seabios.bin"
    local g
    for g in spin ioeventfd smp; do
        nasm -f bin -o "$root/guests/$g.bin" "$here/kvm-selftest/guests/$g.asm"
    done
}

publish_selftest() {
    log "publishing kvm-selftest"
    dotnet publish "$here/kvm-selftest" -c Release -r linux-x64 --self-contained -p:InvariantGlobalization=true \
        -p:PublishTrimmed=true -o "$out/selftest" -nologo -v quiet >"$out/publish-selftest.log" 2>&1 ||
        { cat "$out/publish-selftest.log" >&2; die "publishing kvm-selftest failed"; }
    cp -a "$out/selftest" "$root/selftest"
}

publish_hv() {
    [[ $hv_mode != off ]] || return 0
    log "publishing hv (src/Hypervisor.Cli)"
    if dotnet publish "$repo/src/Hypervisor.Cli" -c Release -r linux-x64 --self-contained \
        -p:InvariantGlobalization=true -o "$out/hv" -nologo -v quiet >"$out/publish-hv.log" 2>&1 &&
        [[ -x $out/hv/hv ]]; then
        cp -a "$out/hv" "$root/hv"
    else
        log "hv could not be published (see out/publish-hv.log); hv-* tests will be skipped"
    fi
}

build_l2() {
    log "building the L2 Linux guest (busybox initramfs)"
    local l2=$out/l2-root
    rm -rf "$l2" && mkdir -p "$l2"/{bin,proc,dev} "$root/l2"
    install -m 0755 "$(command -v busybox)" "$l2/bin/busybox"
    install -m 0755 "$here/l2-init" "$l2/init"
    (cd "$l2" && find . | cpio -o -H newc --quiet) >"$root/l2/initrd.cpio"
    install -m 0644 "$vmlinuz" "$root/l2/vmlinuz"
    seq 1 200000 | md5sum | cut -d' ' -f1 >"$root/l2/expected-sum"
}

copy_qemu() {
    log "copying qemu-system-x86_64, its libraries and firmware into L1"
    copy_with_libs "$(command -v qemu-system-x86_64)"
    mkdir -p "$root/usr/share/qemu" "$root/usr/share/seabios"
    cp -rL /usr/share/seabios/. "$root/usr/share/seabios/"
    # Only the firmware a -kernel boot with -display none reads; the full /usr/share/qemu is 100+ MiB.
    local f
    for f in bios-256k.bin linuxboot_dma.bin kvmvapic.bin multiboot_dma.bin; do
        [[ -e /usr/share/qemu/$f ]] && cp -L "/usr/share/qemu/$f" "$root/usr/share/qemu/"
    done
    [[ -d /usr/share/qemu/keymaps ]] && cp -rL /usr/share/qemu/keymaps "$root/usr/share/qemu/"
}

wants_guest_images() { wants hv-virtio || wants hv-net || wants hv-dd; }

# The Debian guest set of images/build.sh (its /init runs /tests/NAME.sh for hv.test=NAME), a small ext4 disk
# with hello.txt, and the e2fsprogs and iproute2 tools the L1 checks use.
copy_guest_images() {
    local images=$repo/images/out
    [[ -f $images/initramfs.cpio.gz ]] || { log "building the guest images (images/build.sh)"; "$repo/images/build.sh" >&2; }
    log "copying the guest images and e2fsck, debugfs, ip into L1"
    mkdir -p "$root/l2v" "$out/disk-root"
    install -m 0644 "$images/initramfs.cpio.gz" "$root/l2v/initramfs.cpio.gz"
    install -m 0644 "$vmlinuz" "$root/l2v/vmlinuz"
    echo "hello from the hv data disk" >"$out/disk-root/hello.txt"
    rm -f "$root/l2v/disk.ext4"
    mke2fs -q -t ext4 -d "$out/disk-root" "$root/l2v/disk.ext4" 16M
    local tool
    for tool in /usr/sbin/e2fsck /usr/sbin/debugfs /usr/sbin/ip; do copy_with_libs "$tool"; done
}

build_l1() {
    rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,proc,sys,dev,tmp,lib/modules,lib64}
    install -m 0755 "$(command -v busybox)" "$root/bin/busybox"
    local applet
    for applet in $(busybox --list); do
        [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
    done
    install -m 0755 "$here/l1-init" "$root/init"
    local m
    for m in virt/lib/irqbypass drivers/crypto/ccp/ccp arch/x86/kvm/kvm arch/x86/kvm/kvm-amd drivers/net/tun; do
        install -m 0644 "$moddir/$m.ko" "$root/lib/modules/$(basename "$m").ko"
    done
    # A self-contained .NET app still needs the host's C runtime (TESTING.md section 4).
    local lib
    for lib in ld-linux-x86-64.so.2 libc.so.6 libdl.so.2 libgcc_s.so.1 libm.so.6 libpthread.so.0 librt.so.1 \
        libstdc++.so.6; do
        install -D -m 0755 "$(readlink -f "/lib/x86_64-linux-gnu/$lib")" "$root/lib/x86_64-linux-gnu/$lib"
    done
    ln -sf ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
    build_guests
    wants selftest && publish_selftest
    if wants hv-multiboot || wants hv-linux || wants hv-bios || wants_guest_images; then publish_hv; fi
    if wants_guest_images; then copy_guest_images; fi
    if wants selftest || wants qemu-linux || wants hv-linux || wants compare; then build_l2; fi
    if wants compare && ! wants selftest; then publish_selftest; fi
    if wants qemu-linux || wants compare; then copy_qemu; fi
    if [[ $(id -u) -eq 0 ]]; then mknod -m 600 "$root/dev/console" c 5 1; fi
    log "writing the L1 initramfs"
    (cd "$root" && find . | cpio -o -H newc --quiet) >"$out/l1-initrd.cpio"
    log "L1 initramfs: $(du -m "$out/l1-initrd.cpio" | cut -f1) MiB"
}

boot_l1() {
    local list
    list=$(IFS=,; echo "${tests[*]}")
    log "booting L1 (qemu TCG, -cpu $l1_cpu) for: $list"
    local start=$SECONDS status=0
    timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu "$l1_cpu" -m 2048 -smp 1 -nographic \
        -no-reboot -kernel "$vmlinuz" -initrd "$out/l1-initrd.cpio" \
        -append "console=ttyS0 quiet panic=-1 nested.tests=$list" </dev/null >"$out/l1-serial.log" 2>&1 ||
        status=$?
    log "L1 finished in $((SECONDS - start)) s (qemu exit $status)"
    [[ $status -ne 124 ]] || log "L1 timed out after $timeout_s s"
}

median_time() {
    local times
    mapfile -t times < <(awk -v k="$1" '$1 == "NESTED-TIME" && $2 == k { print $3 }' "$out/l1-serial.txt" | sort -n)
    local n=${#times[@]}
    if (( n % 2 )); then echo "${times[n / 2]}"; else awk -v a="${times[n / 2 - 1]}" -v b="${times[n / 2]}" 'BEGIN { print (a + b) / 2 }'; fi
}

report() {
    tr -d '\r' <"$out/l1-serial.log" >"$out/l1-serial.txt"
    grep -E '^(NESTED-|hv-testguest|vCPU|RIP|    )' "$out/l1-serial.txt" >&2 || true
    local passed=0 failed=0 name
    expect=(dev-kvm)
    wants selftest && expect+=(kvm-probe multiboot-hello triple-fault kick state-roundtrip ioeventfd irq-routing dirty-log smp-sipi linux-smp)
    wants qemu-linux && expect+=(qemu-linux)
    if [[ $hv_mode == require ]]; then
        wants hv-multiboot && expect+=(hv-multiboot hv-triple-fault)
        wants hv-linux && expect+=(hv-linux)
        wants hv-virtio && expect+=(hv-virtio-guest hv-virtio-fsck hv-virtio-newfile hv-virtio-port)
        wants hv-net && expect+=(hv-net-vmlink hv-net-tap)
        wants hv-dd && expect+=(hv-dd)
        wants hv-bios && expect+=(hv-bios-seabios hv-bios-pam)
    fi
    for name in "${expect[@]}"; do
        if grep -q "^NESTED-RESULT $name PASS" "$out/l1-serial.txt"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            grep -q "^NESTED-RESULT $name " "$out/l1-serial.txt" || log "missing result: $name"
        fi
    done
    # Results that were not expected (insmod failures, unknown tests) count as failures when they FAIL.
    while read -r name; do
        [[ " ${expect[*]} " == *" $name "* ]] && continue
        case $name in hv-*) [[ $hv_mode == require ]] || continue ;; esac
        failed=$((failed + 1))
    done < <(sed -n 's/^NESTED-RESULT \([^ ]*\) FAIL.*/\1/p' "$out/l1-serial.txt")
    grep -q '^NESTED-DONE' "$out/l1-serial.txt" || { log "L1 did not reach NESTED-DONE"; failed=$((failed + 1)); }
    if grep -q '^NESTED-TIME' "$out/l1-serial.txt"; then
        local hv_median qemu_median
        hv_median=$(median_time hv-kvm)
        qemu_median=$(median_time qemu-kvm)
        log "median VMM start to power-off: hv ${hv_median} s, qemu ${qemu_median} s, ratio hv/qemu" \
            "$(awk -v h="$hv_median" -v q="$qemu_median" 'BEGIN { printf "%.2f", h / q }')"
    fi
    echo "nested: $passed passed, $failed failed"
    [[ $failed -eq 0 ]]
}

mkdir -p "$out" "$cache"
ensure_tools
fetch_kernel
build_l1
boot_l1
report
