# The Debian package's maintainer scripts (debian/luafcgid.postinst,
# postrm), from the tree, run with the real adduser, addgroup, a2enconf
# and Apache's maintscript helper, but in a private mount namespace where
# /etc and /var/lib/apache2 are copies and /var/log and /run are empty:
# nothing they do reaches the machine. The service's part (debhelper's,
# starting and stopping it) is debian-package.t's; this takes a second or
# two.
#
# - postinst configure makes the system user _luafcgid in its own group,
#   also when a system user of that name exists without the group, and
#   the logs: the directory and the daemon's log root's (a script cannot
#   write into it, nor replace it), the access and slow logs _luafcgid's;
# - postrm: the Apache conf stays enabled on remove (the conffile stays,
#   and a disabled conf would have Apache send the scripts' source) and is
#   disabled on purge.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use Test::More;
use LFTest qw(slurp spew);

my $top = $ENV{LF_TOP} || "$FindBin::Bin/../../..";
plan skip_all => 'needs root (a mount namespace, adduser)' unless $> == 0;
for my $tool (qw(unshare adduser addgroup useradd)) {
    plan skip_all => "$tool is not installed" unless `which $tool 2>/dev/null`;
}
plan skip_all => 'no mount namespace here'
    unless system("unshare -m sh -c 'mount -t tmpfs none /mnt' >/dev/null 2>&1") == 0;

my $tmp = tempdir('lf-debscripts.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = "$tmp/bin";
mkdir $bin or die "mkdir: $!";
# what would reach the machine's services: recorded, not run
for my $tool (qw(invoke-rc.d apache2ctl)) {
    spew("$bin/$tool", "#!/bin/sh\necho \"$tool \$*\" >> '$tmp/calls'\nexit 0\n");
}
chmod 0755, glob("$bin/*");

# Run SCRIPT (sh) in a new namespace over fresh copies; its output.
my $n = 0;
sub isolated {
    my ($script) = @_;
    my $root = "$tmp/" . ++$n;
    mkdir $root or die "mkdir: $!";
    system('cp', '-a', '/etc', "$root/etc") == 0 or die "cp /etc failed";
    my $apache = -d '/var/lib/apache2' ? "mkdir -p '$root/apache2' && cp -a /var/lib/apache2/. '$root/apache2'/ && "
                                       . "mount --bind '$root/apache2' /var/lib/apache2 && " : '';
    spew("$root/run.sh", "set -e\n$script");
    my $setup = "mount --bind '$root/etc' /etc && mount -t tmpfs none /var/log && mount -t tmpfs none /run && $apache"
              . (-e '/usr/bin/logger' ? 'mount --bind /dev/null /usr/bin/logger && ' : '')
              . "exec sh '$root/run.sh'";
    local $ENV{PATH} = "$bin:$ENV{PATH}";
    local $ENV{DPKG_MAINTSCRIPT_PACKAGE} = 'luafcgid';
    my $out = `unshare -m sh -c "$setup" 2>&1`;
    return ($? >> 8, $out);
}

my $postinst = "DPKG_MAINTSCRIPT_NAME=postinst sh $top/debian/luafcgid.postinst";
my $postrm = "DPKG_MAINTSCRIPT_NAME=postrm sh $top/debian/luafcgid.postrm";
my $who = q{echo "user=$(getent passwd _luafcgid | cut -d: -f1,6,7)"; }
        . q{echo "group=$(getent group _luafcgid | cut -d: -f1)"; }
        . q{echo "primary=$(id -gn _luafcgid)"; }
        . q{echo "logdir=$(stat -c '%U:%G:%a' /var/log/luafcgid)"; }
        . q{for f in luafcgid access slow; do echo "$f.log=$(stat -c '%U:%G:%a' /var/log/luafcgid/$f.log)"; done};

{
    my ($rc, $out) = isolated("$postinst configure ''\n$who\n$postinst configure 1.0.0\necho again=\$?\n");
    is($rc, 0, 'postinst configure on a fresh machine') or diag $out;
    like($out, qr{^user=_luafcgid:/nonexistent:/usr/sbin/nologin$}m, 'makes the system user _luafcgid, no home, no login');
    like($out, qr/^group=_luafcgid$/m, 'and its group');
    like($out, qr/^primary=_luafcgid$/m, 'its primary group');
    like($out, qr/^logdir=root:adm:755$/m, '/var/log/luafcgid is root\'s, group adm, 0755');
    like($out, qr/^luafcgid\.log=root:adm:640$/m, 'and so is the daemon\'s log, 0640');
    like($out, qr/^access\.log=_luafcgid:adm:640$/m, 'the access log is made for _luafcgid');
    like($out, qr/^slow\.log=_luafcgid:adm:640$/m, 'and the slow log');
    like($out, qr/^again=0$/m, 'and runs again (an upgrade) with both there');
}

{
    my ($rc, $out) = isolated("useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "
                            . "--gid nogroup _luafcgid\n$postinst configure ''\n$who\n");
    is($rc, 0, 'postinst configure with a system user _luafcgid that has no group of its name') or diag $out;
    like($out, qr/^group=_luafcgid$/m, 'makes the group the config names') or diag $out;
}

SKIP: {
    skip 'Apache is not installed', 5 unless -x '/usr/sbin/a2enconf' && -e '/usr/share/apache2/apache2-maintscript-helper';
    my $enabled = q{test -e /etc/apache2/conf-enabled/luafcgid.conf && echo "enabled=yes" || echo "enabled=no"};
    my ($rc, $out) = isolated("cp $top/debian/conf/apache2/luafcgid.conf /etc/apache2/conf-available/\n"
                            . "a2enconf -q luafcgid\n$postrm remove\n$enabled\n"
                            . "$postinst configure ''\n$enabled\n"
                            . "$postrm purge\n$enabled\n"
                            . "test -e /var/log/luafcgid && echo logs=kept || echo logs=gone\n");
    is($rc, 0, 'a2enconf luafcgid, postrm remove, postinst configure, postrm purge') or diag $out;
    my @states = $out =~ /^enabled=(\w+)$/mg;
    is($states[0], 'yes', 'the Apache conf stays enabled on remove');
    is($states[1], 'yes', 'and after a reinstall');
    is($states[2], 'no', 'purge disables it');
    like($out, qr/^logs=gone$/m, 'and removes the logs');
}
done_testing;
