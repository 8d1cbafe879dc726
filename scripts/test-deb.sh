#!/bin/sh
# test-deb.sh - the Debian package, as `make test` checks it: builds it
# (scripts/build-deb.sh), runs lintian (no error, no warning: what remains
# is overridden with a reason in debian/sensorpipe.lintian-overrides),
# checks its file list, dependencies, conffiles and maintainer scripts,
# then installs it with dpkg into a throwaway root (the maintainer scripts
# run with DPKG_ROOT, as dpkg --force-script-chrootless runs them): the user
# from the sysusers file, the unit enabled, the merge service and timer
# installed but not enabled, `systemd-analyze verify` on the installed units
# with the installed binary; then remove keeps the store and the
# configuration, and purge removes both and disables the merge timer an
# operator enabled.
# Needs root (dpkg sets file owners); skips, saying so, otherwise.
set -eu

fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}

if [ "$(id -u)" -ne 0 ]; then
    echo "test-deb: not root: package install not checked (skipped)"
    exit 0
fi
scripts/build-deb.sh >/dev/null
ver=$(cat VERSION)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$PWD/sensorpipe_${ver}_${arch}.deb
[ -f "$deb" ] || fail "$deb not built"

# lintian: errors and warnings fail; overridden tags are explained.
out=$(lintian --pedantic -I "build/deb/sensorpipe_${ver}_${arch}.changes" 2>&1 |
    grep -v 'running with root privileges' || true)
if printf '%s\n' "$out" | grep -q '^[EW]:'; then
    printf '%s\n' "$out" >&2
    fail "lintian reports errors or warnings"
fi

# The file list, exactly.
want='/etc/sensorpipe/sensorpipe.conf
/lib/systemd/system/sensorpipe-merge.service
/lib/systemd/system/sensorpipe-merge.timer
/lib/systemd/system/sensorpipe.service
/usr/bin/sensorpipe
/usr/bin/sensorpipe-load
/usr/lib/sysusers.d/sensorpipe.conf
/usr/share/doc/sensorpipe/changelog.gz
/usr/share/doc/sensorpipe/copyright
/usr/share/lintian/overrides/sensorpipe
/usr/share/man/man1/sensorpipe-load.1.gz
/usr/share/man/man5/sensorpipe.conf.5.gz
/usr/share/man/man8/sensorpipe.8.gz
/usr/share/sensorpipe/grafana/sensorpipe-dashboards.yaml
/usr/share/sensorpipe/grafana/sensorpipe-datasource.yaml
/usr/share/sensorpipe/grafana/sensorpipe.json
/var/lib/sensorpipe/'
ctl=$(mktemp -d)
root=$(mktemp -d)
trap 'rm -rf "$ctl" "$root"' EXIT
printf '%s\n' "$want" | sort >"$ctl/want"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\.||' |
    awk '!/\/$/ || $0 == "/var/lib/sensorpipe/"' | sort >"$ctl/got"
diff -u "$ctl/want" "$ctl/got" >&2 || fail "file list differs (- wanted, + got)"

# Dependencies from dh_shlibdeps, the conffile, the maintainer scripts.
deps=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libmosquitto1 libsqlite3-0 libsystemd0 libuv1 libxxhash0; do
    printf '%s' "$deps" | grep -q "$lib" || fail "Depends lacks $lib: $deps"
done
dpkg-deb -e "$deb" "$ctl/DEBIAN"
[ "$(cat "$ctl/DEBIAN/conffiles")" = /etc/sensorpipe/sensorpipe.conf ] ||
    fail "conffiles: $(cat "$ctl/DEBIAN/conffiles")"
grep -q 'systemd-sysusers .* sensorpipe.conf' "$ctl/DEBIAN/postinst" ||
    fail "postinst does not create the user with systemd-sysusers"
grep -q "deb-systemd-helper enable 'sensorpipe.service'" "$ctl/DEBIAN/postinst" ||
    fail "postinst does not enable the unit"
if grep -q 'deb-systemd-invoke start' "$ctl/DEBIAN/postinst"; then
    fail "postinst starts the unit on install"
fi

# Install into a throwaway root.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
dpkg_root() {
    dpkg --root="$root" --log="$root/dpkg.log" --force-depends \
        --force-script-chrootless "$@" >"$root/dpkg.out" 2>&1 ||
        { cat "$root/dpkg.out" >&2; fail "dpkg $*"; }
}
dpkg_root -i "$deb"
for f in $want; do
    [ -e "$root/${f%.gz}" ] || [ -e "$root/$f" ] || fail "$f not installed"
done
grep -q '^sensorpipe:x:[0-9]*:[0-9]*:sensorpipe daemon:/var/lib/sensorpipe:/usr/sbin/nologin$' \
    "$root/etc/passwd" || fail "no sensorpipe user: $(cat "$root/etc/passwd")"
[ -L "$root/etc/systemd/system/multi-user.target.wants/sensorpipe.service" ] ||
    fail "the unit is not enabled"
merge_timer_link=$root/etc/systemd/system/timers.target.wants/sensorpipe-merge.timer
[ ! -e "$merge_timer_link" ] && [ ! -L "$merge_timer_link" ] ||
    fail "the merge timer is enabled on install"
unit=$root/lib/systemd/system/sensorpipe.service
grep -q '^Type=notify$' "$unit" || fail "the unit is not Type=notify"
grep -q '^ExecStart=/usr/bin/sensorpipe ' "$unit" || fail "ExecStart: $(grep ExecStart= "$unit")"
merge=$root/lib/systemd/system/sensorpipe-merge.service
grep -q '^ExecStart=/usr/bin/sensorpipe merge ' "$merge" ||
    fail "merge ExecStart: $(grep ExecStart= "$merge")"
# The installed units, their binary path pointed into the root (the rest
# of the root is empty: no systemd units, no /bin/kill to check against).
mkdir -p "$ctl/unit"
for u in sensorpipe.service sensorpipe-merge.service sensorpipe-merge.timer; do
    sed "s|/usr/bin/sensorpipe|$root/usr/bin/sensorpipe|g" \
        "$root/lib/systemd/system/$u" >"$ctl/unit/$u"
done
v=$(cd "$ctl/unit" && systemd-analyze verify --man=no sensorpipe.service \
    sensorpipe-merge.service sensorpipe-merge.timer 2>&1) ||
    fail "systemd-analyze verify: $v"
[ -z "$v" ] || fail "systemd-analyze verify: $v"
"$root/usr/bin/sensorpipe" --version >/dev/null ||
    fail "the installed daemon does not run"
"$root/usr/bin/sensorpipe" --check-config \
    -c "$root/etc/sensorpipe/sensorpipe.conf" >/dev/null ||
    fail "the installed configuration does not pass --check-config"
grep -q '^path = /var/lib/sensorpipe/sensorpipe.db$' \
    "$root/etc/sensorpipe/sensorpipe.conf" || fail "the store path is not the state directory"

# Remove keeps the store and the configuration; purge removes them and
# disables the merge timer an operator enabled as the README says
# (systemctl --root: offline, the root runs no systemd).
echo data >"$root/var/lib/sensorpipe/sensorpipe.db"
systemctl --root="$root" enable sensorpipe-merge.timer >/dev/null 2>&1 ||
    fail "systemctl could not enable the merge timer"
[ -L "$merge_timer_link" ] || fail "enabling the merge timer made no link"
dpkg_root -r sensorpipe
[ -f "$root/var/lib/sensorpipe/sensorpipe.db" ] || fail "remove deleted the store"
[ -f "$root/etc/sensorpipe/sensorpipe.conf" ] || fail "remove deleted the conffile"
[ ! -e "$root/usr/bin/sensorpipe" ] || fail "remove left the daemon"
dpkg_root -P sensorpipe
[ ! -e "$root/var/lib/sensorpipe" ] || fail "purge left the state directory"
[ ! -e "$root/etc/sensorpipe/sensorpipe.conf" ] || fail "purge left the conffile"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/sensorpipe.service" ] ||
    fail "purge left the unit enabled"
[ ! -L "$merge_timer_link" ] || fail "purge left the merge timer enabled"
echo "test-deb: sensorpipe_${ver}_${arch}.deb: lintian clean, files, install (merge units not enabled), verify, remove, purge: ok"
