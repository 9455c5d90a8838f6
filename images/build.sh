#!/usr/bin/env bash
# Builds hv's default guest set from Debian packages only, without root for the images themselves:
#   images/out/vmlinuz              the newest Debian 12 linux-image-6.1.0-*-amd64 bzImage
#   images/out/initramfs.cpio.gz    busybox-static + the virtio/pcnet32/ext4 modules and an /init (images/init)
#   images/out/disk.ext4            a 64 MiB ext4 data disk (mke2fs -d) holding hello.txt
# Downloaded .debs are kept in images/cache/; a second run rebuilds only what is older than its inputs.
#
# Environment: HV_KERNEL_PACKAGE=linux-image-6.1.0-NN-amd64 pins the kernel instead of taking the newest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$here/out
cache=$here/cache
debs=$cache/debs
extracted=$cache/extracted

# Everything the initramfs init loads, by module name. Dependencies are added from each module's depends=;
# crc32c_generic is listed because ext4's metadata_csum asks the crypto API for "crc32c" at mount time
# (request_module, which needs modprobe, which the initramfs does not have), so depends= never names it.
wanted_modules=(
    virtio_pci virtio_blk virtio_net virtio_rng virtio_console pcnet32
    crc32c_generic libcrc32c ext4
)

# The data disk's known content: tests compare against it byte for byte.
hello_text="hello from the hv data disk"

log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images/build.sh: error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# Host tools. Only the tools come from the host; everything inside the images comes from .debs.
ensure_tools() {
    local missing=() tool pkg
    declare -A package_of=([apt-get]=apt [dpkg-deb]=dpkg [cpio]=cpio [mke2fs]=e2fsprogs [gzip]=gzip [xz]=xz-utils [zstd]=zstd)
    for tool in apt-get dpkg-deb cpio mke2fs gzip; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return
    if is_root; then
        log "installing host tools: ${missing[*]}"
        apt_updated_once
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        die "missing host tools; install them with: sudo apt-get install ${missing[*]}"
    fi
}

apt_updated=false
apt_updated_once() {
    $apt_updated && return
    is_root || return 0
    log "apt-get update"
    apt-get update -qq
    apt_updated=true
}

# Prints the candidate version of a package, or nothing when apt does not know it.
candidate_version() {
    apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }'
}

# Like candidate_version, but refreshes the package lists once when the package is unknown.
require_version() {
    local pkg=$1 version
    version=$(candidate_version "$pkg")
    if [[ -z $version ]]; then
        apt_updated_once
        version=$(candidate_version "$pkg")
    fi
    [[ -n $version ]] || die "Debian package '$pkg' not found by apt-cache$(is_root || echo ' (try: sudo apt-get update)')"
    printf '%s\n' "$version"
}

newest_kernel_package() {
    local pattern='^linux-image-6\.1\.0-[0-9]+-amd64$' name
    name=$(apt-cache search --names-only "$pattern" 2>/dev/null | awk '{ print $1 }' | sort -V | tail -n 1)
    if [[ -z $name ]]; then
        apt_updated_once
        name=$(apt-cache search --names-only "$pattern" 2>/dev/null | awk '{ print $1 }' | sort -V | tail -n 1)
    fi
    [[ -n $name ]] || die "no linux-image-6.1.0-*-amd64 package found by apt-cache (is this Debian 12 with main enabled?)"
    printf '%s\n' "$name"
}

# Downloads pkg's candidate .deb into the cache unless it is there already; prints its path.
fetch_deb() {
    local pkg=$1 version file size
    version=$(require_version "$pkg")
    # apt-get download writes the epoch colon as %3a.
    file=$(compgen -G "$debs/${pkg}_${version//:/%3a}_*.deb" | head -n 1 || true)
    if [[ -z $file ]]; then
        size=$(apt-cache show --no-all-versions "$pkg" | awk '/^Size:/ { printf "%.1f MB", $2 / 1e6; exit }')
        log "downloading $pkg $version ($size)"
        mkdir -p "$debs"
        # As root apt drops to the _apt user, which cannot write into a cache under /work or /root.
        local sandbox=()
        is_root && sandbox=(-o APT::Sandbox::User=root)
        (cd "$debs" && apt-get download "${sandbox[@]}" "$pkg=$version" >&2) \
            || die "apt-get download $pkg=$version failed"
        file=$(compgen -G "$debs/${pkg}_${version//:/%3a}_*.deb" | head -n 1 || true)
        [[ -n $file ]] || die "apt-get download $pkg produced no .deb in $debs"
    fi
    printf '%s\n' "$file"
}

# Extracts a .deb once (dpkg-deb -x needs no root); prints the directory.
extract_deb() {
    local deb=$1 dir
    dir=$extracted/$(basename "$deb" .deb)
    if [[ ! -e $dir/.complete || $deb -nt $dir/.complete ]]; then
        log "extracting $(basename "$deb")"
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir"
        touch "$dir/.complete"
    fi
    printf '%s\n' "$dir"
}

# True when target exists and is newer than every input.
up_to_date() {
    local target=$1 input
    shift
    [[ -e $target ]] || return 1
    for input in "$@"; do
        [[ $input -nt $target ]] && return 1
    done
    return 0
}

# --- module dependency resolution -------------------------------------------------------------------------

declare -A module_file=()   # module name (underscores) -> path of its .ko[.xz|.zst|.gz]
declare -A builtin=()       # module name -> 1 when built into vmlinuz
declare -A visited=()
load_order=()

index_modules() {
    local moddir=$1 path name
    while IFS= read -r path; do
        name=${path##*/}
        name=${name%%.ko*}
        module_file[${name//-/_}]=$path
    done < <(find "$moddir/kernel" -name '*.ko*' -type f)
    if [[ -f $moddir/modules.builtin ]]; then
        while IFS= read -r path; do
            name=${path##*/}
            name=${name%.ko}
            builtin[${name//-/_}]=1
        done <"$moddir/modules.builtin"
    fi
}

# Writes an uncompressed copy of a module: busybox insmod cannot always read compressed modules.
decompress_module() {
    local src=$1 dst=$2
    case $src in
        *.ko) cp "$src" "$dst" ;;
        *.ko.xz) xz -dc "$src" >"$dst" ;;
        *.ko.zst) zstd -qdc "$src" >"$dst" ;;
        *.ko.gz) gzip -dc "$src" >"$dst" ;;
        *) die "unknown module file type: $src" ;;
    esac
}

# The depends= field of a module's .modinfo section: NUL-separated key=value strings.
module_depends() {
    tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n 1
}

# Depth-first post-order walk: each module is appended after everything it depends on.
resolve_module() {
    local name=${1//-/_} staging=$2 file dep deps
    [[ -n ${visited[$name]:-} ]] && return
    visited[$name]=1
    if [[ -z ${module_file[$name]:-} ]]; then
        [[ -n ${builtin[$name]:-} ]] && return
        die "kernel module '$name' is neither a module nor built in"
    fi
    file=$staging/$name.ko
    decompress_module "${module_file[$name]}" "$file"
    deps=$(module_depends "$file")
    for dep in ${deps//,/ }; do
        resolve_module "$dep" "$staging"
    done
    load_order+=("$name")
}

# --- cpio -------------------------------------------------------------------------------------------------

# One newc header + name for a device node: the kernel opens /dev/console before /init runs, so the node must
# be in the archive, and making it with mknod would need root. The kernel unpacks concatenated archives.
cpio_newc_node() {
    local ino=$1 mode=$2 major=$3 minor=$4 name=$5 namesize header pad
    namesize=$((${#name} + 1))
    header=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$ino" "$mode" 0 0 1 0 0 0 0 "$major" "$minor" "$namesize" 0)
    printf '%s%s\0' "$header" "$name"
    pad=$(((4 - (110 + namesize) % 4) % 4))
    head -c "$pad" /dev/zero
}

cpio_newc_trailer() {
    cpio_newc_node 0 0 0 0 'TRAILER!!!'
}

write_initramfs() {
    local busybox_dir=$1 staging=$2 root target=$out/initramfs.cpio.gz applet
    root=$cache/initramfs-root
    rm -rf "$root"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,mnt,tmp,etc,root,lib/modules,tests}

    install -m 0755 "$busybox_dir/bin/busybox" "$root/bin/busybox"
    # The busybox binary is a static x86-64 ELF, so the build host can list its applets for the links.
    while IFS= read -r applet; do
        [[ $applet == bin/busybox ]] && continue
        [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
    done < <("$root/bin/busybox" --list-full)

    local name
    for name in "${load_order[@]}"; do
        install -m 0644 "$staging/$name.ko" "$root/lib/modules/$name.ko"
    done
    printf '%s\n' "${load_order[@]}" >"$root/lib/modules/load-order"
    printf '%s\n' "$kernel_version" >"$root/etc/hv-kernel-version"

    install -m 0755 "$here/init" "$root/init"
    local script
    for script in "$here"/tests/*.sh; do
        [[ -e $script ]] && install -m 0755 "$script" "$root/tests/"
    done

    log "writing initramfs.cpio.gz (${#load_order[@]} modules)"
    {
        cpio_newc_node 1 $((0040755)) 0 0 dev
        cpio_newc_node 2 $((0020600)) 5 1 dev/console
        cpio_newc_trailer
        (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet)
    } | gzip -9 -n >"$target.tmp"
    mv "$target.tmp" "$target"
}

write_disk() {
    local target=$out/disk.ext4 content=$cache/disk-root
    rm -rf "$content"
    mkdir -p "$content"
    printf '%s\n' "$hello_text" >"$content/hello.txt"
    log "writing disk.ext4 (64 MiB ext4)"
    rm -f "$target.tmp"
    # Fixed UUID and label so the image is the same on every machine; -d copies the tree without mounting.
    mke2fs -q -F -t ext4 -L hvdata -U 6876ab1e-0000-4000-8000-000000000001 -E root_owner=0:0 \
        -d "$content" "$target.tmp" 64M >/dev/null
    mv "$target.tmp" "$target"
}

# --- main -------------------------------------------------------------------------------------------------

main() {
    local started=$SECONDS
    ensure_tools
    mkdir -p "$out" "$debs" "$extracted"

    local kernel_package busybox_deb kernel_deb kernel_dir busybox_dir
    kernel_package=${HV_KERNEL_PACKAGE:-$(newest_kernel_package)}
    kernel_version=${kernel_package#linux-image-}

    kernel_deb=$(fetch_deb "$kernel_package")
    busybox_deb=$(fetch_deb busybox-static)

    # A different kernel (a newer ABI, or HV_KERNEL_PACKAGE) invalidates vmlinuz and the initramfs even when
    # its .deb is older than them.
    local same_kernel=false
    [[ $(cat "$out/kernel-version" 2>/dev/null) == "$kernel_version" ]] && same_kernel=true
    local initramfs_inputs=("$kernel_deb" "$busybox_deb" "$here/init" "$0" "$here/tests" "$here"/tests/*.sh)

    if $same_kernel && up_to_date "$out/vmlinuz" "$kernel_deb" &&
        up_to_date "$out/initramfs.cpio.gz" "${initramfs_inputs[@]}" &&
        up_to_date "$out/disk.ext4" "$0"; then
        log "up to date ($kernel_version) in $out"
        return
    fi

    kernel_dir=$(extract_deb "$kernel_deb")
    busybox_dir=$(extract_deb "$busybox_deb")

    local vmlinuz=$kernel_dir/boot/vmlinuz-$kernel_version
    [[ -f $vmlinuz ]] || die "$kernel_package has no boot/vmlinuz-$kernel_version"
    if ! $same_kernel || ! up_to_date "$out/vmlinuz" "$kernel_deb"; then
        log "writing vmlinuz ($kernel_version)"
        install -m 0644 "$vmlinuz" "$out/vmlinuz"
    fi

    if ! $same_kernel || ! up_to_date "$out/initramfs.cpio.gz" "${initramfs_inputs[@]}"; then
        local moddir=$kernel_dir/lib/modules/$kernel_version staging=$cache/modules
        [[ -d $moddir ]] || die "$kernel_package has no lib/modules/$kernel_version"
        rm -rf "$staging"
        mkdir -p "$staging"
        index_modules "$moddir"
        local module
        for module in "${wanted_modules[@]}"; do
            resolve_module "$module" "$staging"
        done
        write_initramfs "$busybox_dir" "$staging"
    fi

    if ! up_to_date "$out/disk.ext4" "$0"; then
        write_disk
    fi

    printf '%s\n' "$kernel_version" >"$out/kernel-version"
    log "done in $((SECONDS - started)) s: $out/{vmlinuz,initramfs.cpio.gz,disk.ext4}"
}

main "$@"
