# Running as a service: install layout, service files, man pages, the LSB
# script for real, privilege drop, socket ownership, log rotation.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp qw(tempdir);
use LFTest qw(wait_for spew slurp http_get alive);

my $top = LFTest::top();

# ---- files that need no root ----
is(system('sh', '-n', "$top/rc.d/luafcgid"), 0, 'the FreeBSD rc.d script parses (sh -n)');
is(system('sh', '-n', "$top/rc.d/luafcgid.init"), 0, 'the LSB init script parses (sh -n)');
like(slurp("$top/rc.d/luafcgid"), qr/^# PROVIDE: luafcgid$(?s:.*)^# REQUIRE: LOGIN$/m, 'rc.d: PROVIDE and REQUIRE lines');
like(slurp("$top/rc.d/luafcgid"), qr/extra_commands="reload configtest/, 'rc.d: reload and configtest commands');
like(slurp("$top/rc.d/luafcgid.init"), qr/### BEGIN INIT INFO(?s:.*)# Provides: +luafcgid(?s:.*)### END INIT INFO/,
     'the init script has an LSB header');
SKIP: {
    skip 'mandoc is not installed', 1 unless `which mandoc 2>/dev/null`;
    my $lint = `mandoc -Tlint -Wwarning $top/man/luafcgid.8 $top/man/luafcgid.conf.5 2>&1`;
    is($lint, '', 'the man pages are mandoc -Tlint clean');
}
SKIP: {
    skip 'systemd-analyze is not available', 1 unless `which systemd-analyze 2>/dev/null`;
    my $d = tempdir(CLEANUP => 1);
    (my $unit = slurp("$top/rc.d/luafcgid.service")) =~ s/%%\w+%%/\/usr/g;
    spew("$d/luafcgid.service", $unit);
    # --man=no: checking Documentation= runs man(1), which caches cat pages
    # when luafcgid's are installed
    my $out = `systemd-analyze verify --man=no $d/luafcgid.service 2>&1`;
    unlike($out, qr/error|invalid/i, 'systemd-analyze verify finds nothing wrong in the unit') or diag $out;
}

# every key of the config table is documented in the sample and the man page
{
    my $table = slurp("$top/src/conf/conf_keys.c");
    my @keys = $table =~ /^\s+[KS]\((\w+),/mg;
    my %later = map { $_ => 1 } $table =~ /^\s+[KS]\((\w+),.*\bCF_LATER\b/mg;
    my $sample = slurp("$top/etc/luafcgid.conf");
    my $man = slurp("$top/man/luafcgid.conf.5");
    ok(@keys > 30, 'the key table was read');
    is(join(' ', grep { $sample !~ /^-- $_ = /m } @keys), '', 'every key is in the sample config');
    is(join(' ', grep { $man !~ /\bIc $_\b/ } @keys), '', 'every key is in luafcgid.conf(5)');
    (my $all = $sample) =~ s/^-- (\w+) = /$later{$1} ? "-- $1 = " : "$1 = "/mge;
    # -t resolves the users and groups: the sample's (FreeBSD's www) are
    # made ones this machine has
    my $group0 = getgrgid(0);
    $all =~ s/^(user|listen_owner) = "\w+"/$1 = "root"/mg;
    $all =~ s/^(group|listen_group) = "\w+"/$1 = "$group0"/mg;
    my $d = tempdir(CLEANUP => 1);
    spew("$d/all.conf", $all);
    my $out = `${\ LFTest::binary()} -t $d/all.conf 2>&1`;
    is($? >> 8, 0, 'the sample with every working key uncommented passes -t') or diag $out;
    my $later_rows = () = $table =~ /^\s+[KS]\(.*\bCF_LATER\b/mg;
    is(scalar keys %later, $later_rows, 'the keys of later versions were read');
    my @accepted;
    for my $k (sort keys %later) {
        (my $one = $all) =~ s/^-- ($k = )/$1/m;
        spew("$d/later.conf", $one);
        my $o = `${\ LFTest::binary()} -t $d/later.conf 2>&1`;
        push @accepted, $k unless $? >> 8 == 1 && $o =~ /key '$k': not supported yet/;
    }
    is("@accepted", '', 'each key of a later version, uncommented in the sample, fails -t naming it');
}

# ---- make install into a DESTDIR ----
my $dest = tempdir(CLEANUP => 1);
my $out = `make -s -C $top install DESTDIR=$dest 2>&1`;
is($?, 0, 'make install DESTDIR=... succeeds') or diag $out;
my ($prefix) = slurp("$top/Makefile") =~ /^PREFIX\s*=\s*(\S+)/m;
my ($sysconf) = slurp("$top/Makefile") =~ /^SYSCONFDIR\s*=\s*(\S+)/m;
$sysconf =~ s/\$\(PREFIX\)/$prefix/;
my @layout = ("$prefix/sbin/luafcgid", "$sysconf/luafcgid/luafcgid.conf", "$sysconf/luafcgid/luafcgid.conf.sample",
              "$prefix/share/lua/5.1/luafcgid.lua", "$prefix/share/man/man8/luafcgid.8",
              "$prefix/share/man/man5/luafcgid.conf.5", "$prefix/lib/systemd/system/luafcgid.service",
              "$sysconf/init.d/luafcgid");
is(join(' ', grep { !-f "$dest$_" } @layout), '', 'the installed tree has binary, config, module, man pages, service files');
ok(-x "$dest$prefix/sbin/luafcgid" && -x "$dest$sysconf/init.d/luafcgid", 'the binary and init script are executable');
unlike(slurp("$dest$sysconf/init.d/luafcgid"), qr/%%/, 'the paths are filled into the init script');
like(slurp("$dest$prefix/lib/systemd/system/luafcgid.service"), qr{^ExecStart=\Q$prefix\E/sbin/luafcgid \Q$sysconf\E/luafcgid/luafcgid\.conf$}m,
     'and into the systemd unit');
spew("$dest$sysconf/luafcgid/luafcgid.conf", "workers = 3 -- edited\n");
`make -s -C $top install DESTDIR=$dest 2>&1`;
is(slurp("$dest$sysconf/luafcgid/luafcgid.conf"), "workers = 3 -- edited\n", 'a second install keeps an edited config');
`make -s -C $top uninstall DESTDIR=$dest 2>&1`;
is(join(' ', grep { -e "$dest$_" } @layout), "$sysconf/luafcgid/luafcgid.conf", 'uninstall removes everything but the edited config');
`make -s -C $top install DESTDIR=$dest 2>&1`;

# ---- as root: privilege drop, socket ownership, the LSB script for real ----
my ($wuid, $wgid) = (getpwnam('www-data'))[2, 3];
SKIP: {
    skip 'needs root and a www-data user', 1 unless $> == 0 && defined $wuid;

    my $t = LFTest->new(conf => { user => 'www-data', listen_group => 'www-data', listen_mode => '0660',
                                  logfile => undef });
    my $logdir = $t->dir . '/logs';
    $t->write_conf(logfile => "$logdir/lf.log");
    $t->script('who.lua', <<'LUA');
function main(env, req)
  local f = io.open("/proc/self/status")
  local s = f:read("*a") f:close()
  req:puts(s:match("Uid:%s+(%d+)"), " ", s:match("Gid:%s+(%d+)"))
end
LUA
    $t->start;
    # the workers run in the serving process, the supervisor's child; its
    # threads start and drop privileges after the socket takes
    # connections, so wait for what is checked, not for the socket
    my $pid = LFTest::serving_pid($t);
    my @uids;
    wait_for(sub { @uids = map { (slurp($_) =~ /^Uid:\s+(\d+)\s+(\d+)/m)[1] }
                           glob("/proc/$pid/task/*/status");
                   @uids >= 3 && !grep { $_ != $wuid } @uids }, 10);
    ok(@uids >= 3, 'the serving process has its threads (' . scalar(@uids) . ')');
    is(join(',', grep { $_ != $wuid } @uids), '', 'every thread runs as www-data');
    is($t->get('who.lua')->{body}, "$wuid $wgid", 'scripts run as www-data, with its group');
    my @st = stat($t->listen_addr);
    is(sprintf('%o', $st[2] & 07777), '660', 'the socket has listen_mode');
    is($st[5], (getgrnam('www-data'))[2], 'and listen_group');
    is((stat("$logdir/lf.log"))[4], 0, 'the log file luafcgid made stays root\'s');
    is((stat($logdir))[4], $wuid, 'the log directory luafcgid made for it is www-data\'s (for the access log)');
    unlike($t->log, qr/running as root/, 'no warning about running as root');
    rename("$logdir/lf.log", "$logdir/lf.log.1");
    $t->signal('USR1');
    ok(wait_for(sub { slurp("$logdir/lf.log") =~ /log reopened/ }), 'after the drop, USR1 still reopens a moved log');
    is((stat("$logdir/lf.log"))[4], 0, 'the new one is root\'s too');
    is($t->stop, 0, 'stop');
    ok(!-s $t->dir . '/lf.pid', 'the pidfile is removed or emptied after the drop');

    my $root = LFTest->new;
    $root->start;
    ok($root->wait_log(qr/running as root: scripts will run as root/), 'started as root without user: a warning');
    $root->stop;
}

SKIP: {
    skip 'needs root, www-data, start-stop-daemon and nginx', 1
        unless $> == 0 && defined $wuid && `which start-stop-daemon 2>/dev/null` && -x LFTest::nginx_binary();

    my $init = "$dest$sysconf/init.d/luafcgid";
    my $t = LFTest->new(conf => { daemonize => 1, user => 'www-data', listen_group => 'www-data',
                                  logfile => undef });
    my $logdir = $t->dir . '/log';
    $t->write_conf(logfile => "$logdir/lf.log");
    $t->script('hello.lua', "function main(env, req) req:puts('served by the init script') end\n");
    local $ENV{LUAFCGID_DAEMON} = "$dest$prefix/sbin/luafcgid";
    local $ENV{LUAFCGID_CONFIG} = $t->conf_path;
    local $ENV{LUAFCGID_PIDFILE} = $t->dir . '/lf.pid';

    $out = `sh $init start 2>&1`;
    is($?, 0, 'init script: start') or diag $out . $t->log;
    my ($pid) = slurp($t->dir . '/lf.pid') =~ /(\d+)/;
    LFTest::track($pid, 'init-started luafcgid') if $pid;
    $out = `sh $init status 2>&1`;
    is($?, 0, 'init script: status says running');
    like($out, qr/luafcgid is running \(pid $pid\)/, 'with the pid');
    my $serving = LFTest::serving_pid($pid);
    my $uid = (slurp("/proc/$serving/status") =~ /^Uid:\s+\d+\s+(\d+)/m)[0];
    is($uid, $wuid, 'the serving process runs as www-data');

    $t->start_nginx(user => 'www-data www-data');
    my $r = http_get($t->nginx_url('/hello.lua'));
    is($r->{content}, 'served by the init script', 'nginx running as www-data serves a script through the socket');

    $t->write_conf(headers => "X-Reloaded: 1\n");
    $out = `sh $init reload 2>&1`;
    is($?, 0, 'init script: reload');
    ok(wait_for(sub { slurp("$logdir/lf.log") =~ /reloaded/ }), 'the daemon reloaded');
    is(http_get($t->nginx_url('/hello.lua'))->{headers}{'x-reloaded'}, '1', 'and serves with the new config');

    rename("$logdir/lf.log", "$logdir/lf.log.1");
    $out = `sh $init rotate 2>&1`;
    is($?, 0, 'init script: rotate');
    ok(wait_for(sub { slurp("$logdir/lf.log") =~ /log reopened/ }), 'the log was rotated: a new file is written');

    spew($t->conf_path, "workers = = 1\n");
    $out = `sh $init reload 2>&1`;
    isnt($?, 0, 'init script: reload refuses a broken config');
    like($out, qr/lf\.conf:1:/, 'and says where it is broken');
    ok(alive($pid), 'the daemon is still running');
    $t->write_conf;

    $t->stop_nginx;
    $out = `sh $init stop 2>&1`;
    is($?, 0, 'init script: stop');
    ok(wait_for(sub { !alive($pid) && !alive($serving) }, 10), 'the daemon is gone, and its serving process');
    LFTest::untrack($pid);
    `sh $init status 2>&1`;
    is($? >> 8, 3, 'init script: status says not running (3)');

    # LSB: an action that needs the daemon, while it is stopped: 7; an
    # action the script does not have: 3
    for my $action (qw(reload force-reload rotate upgrade)) {
        $out = `sh $init $action 2>&1`;
        is($? >> 8, 7, "init script: $action while stopped exits 7 (not running)") or diag $out;
    }
    `sh $init no-such-action 2>&1`;
    is($? >> 8, 3, 'init script: an action it does not have exits 3');
    `sh $init stop 2>&1`;
    is($?, 0, 'init script: stop while stopped succeeds');

    # removed, not purged: the script stays, the binary is gone
    local $ENV{LUAFCGID_DAEMON} = $t->dir . '/removed/luafcgid';
    $out = `sh $init start 2>&1`;
    is($?, 0, 'init script: with the binary gone, start does nothing and succeeds') or diag $out;
    ok(!-s $t->dir . '/lf.pid', 'and starts nothing');
    `sh $init stop 2>&1`;
    is($?, 0, 'and so does stop');
    `sh $init status 2>&1`;
    is($? >> 8, 3, 'and status says not running (3)');
}

done_testing;
