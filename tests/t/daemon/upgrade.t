# USR2 upgrade edge cases: a stop during the upgrade stops the daemon and
# the new binary given up on; the pid the new binary reports must be the
# process started; a HUP during the upgrade reaches the new binary; an
# edited pidfile path is refused; a symlinked binary runs what it names;
# the listening socket handed over is close-on-exec again.
# one build: the supervisor, its signals and hand-overs, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use POSIX ();
use Test::More;
use File::Copy qw(copy);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use LFTest qw(wait_for alive slurp spew);

my $hello = "function main(env, req) req:puts('ok') end\n";

# A preload that notes each start in DIR/starts, then waits while DIR/hold
# exists (30 s at most): a new binary kept starting for as long as a test
# needs.
sub held_preload {
    my ($t) = @_;
    my $d = $t->dir;
    $t->script('held.lua', "os.execute('echo start >> $d/starts; i=0; "
                         . "while [ -e $d/hold ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done')\n"
                         . "function main() end\n");
    $t->write_conf(preload => [ $t->www . '/held.lua' ]);
}
sub starts { scalar(() = slurp($_[0]->dir . '/starts') =~ /^start$/mg) }

# A daemon running a private copy of the binary at DIR/luafcgid.
sub daemon {
    my (%o) = @_;
    my $t = LFTest->new(conf => $o{conf} // {}, scripts => { 'hello.lua' => $hello });
    held_preload($t) if $o{held};
    my $d = $t->dir;
    copy(LFTest::binary(), "$d/luafcgid.real") or die; chmod 0755, "$d/luafcgid.real";
    copy(LFTest::binary(), "$d/luafcgid") or die; chmod 0755, "$d/luafcgid";
    { local $ENV{LUAFCGID} = "$d/luafcgid"; $t->start; }
    ok($t->wait_log(qr/serving process \d+ started/, 15), 'serving');
    return $t;
}

sub replace_bin {
    my ($t, $text) = @_;
    my $d = $t->dir;
    spew("$d/luafcgid.new", $text);
    chmod 0755, "$d/luafcgid.new";
    rename("$d/luafcgid.new", "$d/luafcgid") or die;
}

sub replace_bin_at {
    my ($path, $text) = @_;
    spew("$path.new", $text);
    chmod 0755, "$path.new";
    rename("$path.new", $path) or die;
}

sub new_pid { my ($t) = @_; my @p = $t->log =~ /the new binary serves as pid (\d+)/g; $p[-1] }

# The old daemon has handed over: stop it, then the new one.
sub stop_both {
    my ($t, $new) = @_;
    LFTest::track($new, 'luafcgid (upgraded)') if $new;
    LFTest::stop_pid($t->pid, 0, 30) if $t->pid;
    $t->{pid} = undef;
    if ($new) { kill 'TERM', $new; wait_for(sub { !alive($new) }, 20); LFTest::untrack($new); }
}

# 1, 2: TERM while the new binary starts stops the daemon, and the new one
{
    my $t = daemon();
    my $d = $t->dir;
    replace_bin($t, "#!/bin/sh\necho \$\$ > $d/new.pid\nsleep 4\nexec $d/luafcgid.real \"\$@\"\n");
    $t->signal('USR2');
    ok($t->wait_log(qr/upgrade: starting/), 'USR2: the new binary starts (slowly)');
    ok(wait_for(sub { -s "$d/new.pid" }, 10), 'the new binary runs');
    my $new = slurp("$d/new.pid") =~ /(\d+)/ ? $1 : 0;
    my $old = $t->pid;
    kill 'TERM', $old;
    ok(wait_for(sub { waitpid($old, POSIX::WNOHANG()) == $old }, 20), 'TERM during the upgrade stops the daemon')
        or diag $t->log;
    $t->{pid} = undef if !alive($old);
    ok(!-e $t->{conf}{pidfile}, 'and removes the pidfile');
    ok(!-e $t->{conf}{listen}, 'and the socket');
    unlike($t->log, qr/giving it up.*serving process \d+ started/s, 'no serving process is started after the stop');
    ok(wait_for(sub { !alive($new) }, 10), 'the new binary given up on is stopped too') or diag $t->log;
    kill 'KILL', $new if $new && alive($new);
}

# 2: one that ignores TERM is killed, and the old one stops all the same
{
    my $t = daemon();
    my $d = $t->dir;
    replace_bin($t, "#!/usr/bin/perl\n\$SIG{TERM} = 'IGNORE';\nopen(my \$f, '>', '$d/new.pid'); print \$f \$\$; close \$f;\nsleep 1000;\n");
    $t->signal('USR2');
    ok(wait_for(sub { -s "$d/new.pid" }, 10), 'a new binary that hangs and ignores TERM');
    my $new = slurp("$d/new.pid") =~ /(\d+)/ ? $1 : 0;
    my $old = $t->pid;
    kill 'TERM', $old;
    ok(wait_for(sub { waitpid($old, POSIX::WNOHANG()) == $old }, 30), 'TERM stops the daemon') or diag $t->log;
    $t->{pid} = undef if !alive($old);
    ok(!alive($new), 'the new binary was killed') or diag $t->log;
    like($t->log, qr/upgrade: .*killing it/, 'and that is logged');
    kill 'KILL', $new if $new && alive($new);
}

# 2: a new binary that never serves is stopped after upgrade_timeout, as
# the running config has it (set by a HUP here), and frees the port
{
    my $port = LFTest::free_port();
    my $t = daemon(conf => { listen => "127.0.0.1:$port" });
    my $d = $t->dir;
    $t->write_conf(upgrade_timeout => 2);
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded/), 'HUP sets upgrade_timeout = 2');
    replace_bin($t, "#!/bin/sh\necho \$\$ > $d/new.pid\nexec sleep 100000\n");
    my $t0 = time;
    $t->signal('USR2');
    ok($t->wait_log(qr/did not serve within 2 s \(upgrade_timeout\); giving it up/, 30),
       'the old one gives up after upgrade_timeout, saying so') or diag $t->log;
    cmp_ok(time - $t0, '>=', 1.9, sprintf('not before it (%.1f s)', time - $t0));
    my $new = slurp("$d/new.pid") =~ /(\d+)/ ? $1 : 0;
    ok(wait_for(sub { !alive($new) }, 15), 'the new process it gave up on is stopped') or diag $t->log;
    is($t->get('hello.lua')->{body}, 'ok', 'the old one still serves');
    is($t->stop, 0, 'TERM stops it');
    ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 2),
       'nothing accepts on its port any more');
    kill 'KILL', $new if $new && alive($new);
}

# 7: a pid that is not the process started is not believed
{
    my $t = daemon();
    my $d = $t->dir;
    replace_bin($t, "#!/usr/bin/perl\n(\$ENV{LUAFCGID_UPGRADE} =~ /^\\d+:(\\d+):/) or exit 9;\n"
                  . "open(my \$f, '>&=', \$1) or exit 8; print \$f \"1\\n\"; close \$f; exit 0;\n");
    my $old = $t->pid;
    my $serving = LFTest::serving_pid($t);
    $t->signal('USR2');
    ok($t->wait_log(qr/upgrade: .*not the process/, 10), 'a foreign pid is refused') or diag $t->log;
    ok(wait_for(sub { `pgrep -P $old` =~ /^\s*(\d+)\s*$/ && $1 == $serving }, 10),
       'the new binary is gone, the serving process left') or diag `ps -o pid,args --ppid $old`;
    ok(alive($old), 'the old one keeps serving');
    is($t->get('hello.lua')->{body}, 'ok', 'requests are served');
    is($t->stop, 0, 'and it stops');
}

# 6: a HUP while the new binary starts reaches the new one
{
    my $t = daemon(conf => { headers => "X-Conf: one\r\n" }, held => 1);
    is($t->get('hello.lua')->{headers}{'x-conf'}, 'one', 'header from the config');
    spew($t->dir . '/hold', '');
    $t->signal('USR2');
    ok($t->wait_log(qr/upgrade: starting/), 'USR2');
    ok(wait_for(sub { starts($t) == 2 }, 15), 'the new one has read the config: its preload runs');
    $t->write_conf(headers => "X-Conf: two\r\n");
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded/), 'HUP meanwhile: the old one reloads');
    unlink $t->dir . '/hold';
    ok($t->wait_log(qr/the new binary serves as pid (\d+)/, 30), 'the new binary takes over');
    my $new = new_pid($t);
    like($t->log, qr/upgrade: .*HUP.*passing it on/, 'the HUP is passed on, and that is logged');
    LFTest::track($new, 'luafcgid (upgraded)') if $new;
    LFTest::stop_pid($t->pid, 0, 30);
    $t->{pid} = undef;
    ok(wait_for(sub { ($t->get('hello.lua')->{headers}{'x-conf'} // '') eq 'two' }, 15),
       'the new one serves the config as HUP left it');
    stop_both($t, $new);
}

# 8: an edited pidfile path is refused, as an edited listen is
{
    my $t = daemon();
    my $old = $t->pid;
    my $oldpath = $t->{conf}{pidfile};
    $t->write_conf(pidfile => $t->dir . '/other.pid');
    $t->signal('USR2');
    ok($t->wait_log(qr/still serving with this one|the new binary serves/, 20), 'USR2 with an edited pidfile path');
    like($t->log, qr/upgrade: pidfile changed/, 'refused, saying why') or diag $t->log;
    ok(alive($old), 'the old one serves on');
    is(slurp($oldpath) =~ /(\d+)/ ? $1 : '', $old, 'its pidfile names it');
    is($t->stop, 0, 'and it stops');
    ok(!-e $oldpath, 'removing its pidfile');
}
# USR2 while the serving process starts is done once it serves, not lost
{
    my $t = LFTest->new(conf => {}, scripts => { 'hello.lua' => $hello });
    held_preload($t);
    my $d = $t->dir;
    copy(LFTest::binary(), "$d/luafcgid") or die; chmod 0755, "$d/luafcgid";
    spew("$d/hold", '');
    $t->{early} = 1;        # before the serving process serves
    { local $ENV{LUAFCGID} = "$d/luafcgid"; $t->start; }
    ok(wait_for(sub { starts($t) == 1 }, 15), 'the serving process starts: its preload runs');
    $t->signal('USR2');
    ok($t->wait_log(qr/upgrade: .*upgrading once one serves/, 10), 'USR2 during the start is kept') or diag $t->log;
    unlink "$d/hold";
    ok($t->wait_log(qr/the new binary serves as pid/, 30), 'and done once the serving process serves')
        or diag $t->log;
    stop_both($t, new_pid($t));
}

# 5: a symlinked binary: USR2 runs what the symlink names now
{
    my $t = LFTest->new(conf => {}, scripts => { 'hello.lua' => $hello });
    my $d = $t->dir;
    copy(LFTest::binary(), "$d/luafcgid-1.0") or die; chmod 0755, "$d/luafcgid-1.0";
    spew("$d/luafcgid-1.1", "#!/bin/sh\ntouch $d/new-build-ran\nexec $d/luafcgid-1.0 \"\$@\"\n");
    chmod 0755, "$d/luafcgid-1.1";
    symlink('luafcgid-1.0', "$d/luafcgid") or die;
    { local $ENV{LUAFCGID} = "$d/luafcgid"; $t->start; }
    ok($t->wait_log(qr/serving process \d+ started/, 15), 'started through a symlink');
    symlink('luafcgid-1.1', "$d/luafcgid.tmp") or die;
    rename("$d/luafcgid.tmp", "$d/luafcgid") or die;
    $t->signal('USR2');
    ok($t->wait_log(qr/the new binary serves as pid/, 30), 'upgraded') or diag $t->log;
    ok(-e "$d/new-build-ran", 'the build the symlink names now ran') or diag $t->log;
    stop_both($t, new_pid($t));
}

# 5: a binary others could have replaced is not run
{
    my $t = LFTest->new(conf => {}, scripts => { 'hello.lua' => $hello });
    my $d = $t->dir;
    mkdir "$d/bin" or die;
    copy(LFTest::binary(), "$d/bin/luafcgid") or die; chmod 0755, "$d/bin/luafcgid";
    { local $ENV{LUAFCGID} = "$d/bin/luafcgid"; $t->start; }
    ok($t->wait_log(qr/serving process \d+ started/, 15), 'serving');
    chmod 0777, "$d/bin";
    replace_bin_at("$d/bin/luafcgid", "#!/bin/sh\ntouch $d/planted-ran\n");
    my $old = $t->pid;
    $t->signal('USR2');
    ok($t->wait_log(qr/upgrade: \S+ is writable by everyone; anyone could replace the binary/, 10),
       'USR2 refuses a binary in a world-writable directory, saying why') or diag $t->log;
    ok(!-e "$d/planted-ran", 'and does not run it');
    ok(alive($old), 'the old one serves on');
    is($t->get('hello.lua')->{body}, 'ok', 'requests are served');
    is($t->stop, 0, 'and it stops');
}
# 6: the listening socket is close-on-exec, in the supervisor and its serving process,
# whether bound or handed over by USR2 (which clears the flag for the exec)
sub listener_cloexec {
    my ($pid, $path) = @_;
    my $inode;
    open my $u, '<', '/proc/net/unix' or return undef;
    while (<$u>) {
        my @f = split;      # Num RefCount Protocol Flags Type St Inode Path
        $inode = $f[6] if @f >= 8 && $f[7] eq $path && hex($f[3]) & 0x10000;   # listening
    }
    return undef unless $inode;
    for my $link (glob("/proc/$pid/fd/*")) {
        next unless (readlink($link) // '') eq "socket:[$inode]";
        my ($fd) = $link =~ m{(\d+)$};
        open my $f, '<', "/proc/$pid/fdinfo/$fd" or return undef;
        my ($flags) = join('', <$f>) =~ /^flags:\s+([0-7]+)/m;
        return oct($flags) & 02000000 ? 1 : 0;     # O_CLOEXEC
    }
    return undef;
}
{
    my $t = daemon();
    my $sock = $t->listen_addr;
    is(listener_cloexec($t->pid, $sock), 1, 'bound: close-on-exec in the supervisor');
    is(listener_cloexec(LFTest::serving_pid($t), $sock), 1, 'and in the serving process');
    $t->signal('USR2');
    ok($t->wait_log(qr/the new binary serves as pid/, 30), 'upgraded') or diag $t->log;
    my $new = new_pid($t);
    is(listener_cloexec($new, $sock), 1, 'handed over: close-on-exec in the new supervisor');
    my $serving;
    ok(wait_for(sub { ($serving) = `ps -o pid= --ppid $new` =~ /(\d+)/; $serving }, 15), 'which serves');
    is(listener_cloexec($serving, $sock), 1, 'and in its serving process');
    stop_both($t, $new);
}
done_testing;
