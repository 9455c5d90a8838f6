#!/bin/sh
# Network acceptance inside the guest (hv.test=netpeer): configures eth0 (virtio-net) with hv.ip=ADDR/LEN and
# pings hv.peer=ADDR until it answers (the peer may still be booting), then stays up hv.linger= seconds (default
# 15) so the peer can ping back. Used for two guests on a VM-to-VM link and for a guest behind TAP.
ip_addr="" peer="" linger=15
for word in $(cat /proc/cmdline); do
    case "$word" in
        hv.ip=*) ip_addr="${word#hv.ip=}" ;;
        hv.peer=*) peer="${word#hv.peer=}" ;;
        hv.linger=*) linger="${word#hv.linger=}" ;;
    esac
done
[ -n "$ip_addr" ] && [ -n "$peer" ] || { echo "not ok netpeer needs hv.ip= and hv.peer="; exit 1; }
ip link set lo up
ip addr add "$ip_addr" dev eth0
ip link set eth0 up
echo "hv-net: eth0 $(cat /sys/class/net/eth0/address) $ip_addr, pinging $peer"
ok=1
i=0
while [ $i -lt 60 ]; do
    if ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then
        ok=0
        break
    fi
    i=$((i + 1))
done
if [ $ok -eq 0 ]; then
    echo "ok ping $peer"
    ping -c 3 -W 2 "$peer" | tail -n 2
else
    echo "not ok ping $peer"
fi
sleep "$linger"
exit $ok
