# Files, logs and defaults: what luafcgid opens as root cannot be turned
# against root, every log line is one message, a setting that does not work
# yet is an error, and only a socket nobody listens on is removed as stale.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Cwd qw(getcwd);
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_STREAM);
use Fcntl ();
use LFTest qw(wait_for slurp spew alive);

plan skip_all => 'needs root: the attacks are on what root opens' unless $> == 0;

my $nobody = getpwnam('nobody');
my $nogroup = getgrnam('nogroup') // getgrnam('nobody');
plan skip_all => 'needs the user nobody' unless defined $nobody && defined $nogroup;

# Run the daemon with ARGS; its exit code and output, or undef when it was
# still running after SECONDS (it started: then it is stopped).
sub run_to_exit {
    my ($t, $seconds, %o) = @_;
    my $out = $t->dir . '/run.out';
    unlink $out;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', $out);
        open(STDERR, '>&', \*STDOUT);
        if ($o{as_nobody}) {
            $) = "$nogroup $nogroup";
            $( = $nogroup;
            $< = $> = $nobody;
        }
        exec($o{binary} // LFTest::binary(), @{ $o{args} || ['-F'] }, $t->conf_path) or POSIX::_exit(127);
    }
    LFTest::track($pid, 'luafcgid');
    my $status;
    my $done = wait_for(sub { my $r = waitpid($pid, WNOHANG); $status = $? if $r == $pid; $r == $pid }, $seconds);
    if (!$done) {
        LFTest::stop_pid($pid, 'TERM', 10);
        return (undef, slurp($out));
    }
    LFTest::untrack($pid);
    return ($status >> 8, slurp($out));
}

# A root-owned file an attacker would like to receive or overwrite.
sub precious {
    my ($t) = @_;
    my $path = $t->dir . '/precious';
    spew($path, "root's secret\n");
    chmod 0600, $path;
    return $path;
}

sub untouched {
    my ($path) = @_;
    my @st = stat $path;
    return @st && $st[4] == 0 && $st[3] == 1 && slurp($path) eq "root's secret\n";
}

my $line_re = qr/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(?:error|warn|notice|info|debug)\] /;

# ---- the log file ------------------------------------------------------------

{
    my $t = LFTest->new(conf => { user => 'nobody' });
    my $target = precious($t);
    symlink($target, $t->dir . '/lf.log') or die "symlink: $!";
    my ($rc, $out) = run_to_exit($t, 10);
    is($rc, 1, 'a symlink at the logfile path: start-up fails');
    like($out, qr/log file \S+lf\.log is a symbolic link; refusing it/, 'with a message naming the log');
    ok(untouched($target), 'and the file it points to keeps its owner and content');
}

{
    my $t = LFTest->new(conf => { user => 'nobody' });
    my $target = precious($t);
    link($target, $t->dir . '/lf.log') or die "link: $!";
    my ($rc, $out) = run_to_exit($t, 10);
    is($rc, 1, 'a hard link at the logfile path: start-up fails');
    like($out, qr/log file \S+lf\.log is not a regular file with a single link/, 'with a message naming the log');
    my @st = stat $target;
    is($st[4], 0, 'and the linked file keeps its owner');
    is(slurp($target), "root's secret\n", 'and its content');
}

# A script, running as `user`, opening the daemon's log to append.
my $forge = <<'LUA';
function main(env, req)
  local f, err = io.open(env.LOGFILE, "a")
  if f then f:write("a forged line\n") f:close() req:puts("written") else req:puts(err) end
end
LUA

{
    my $t = LFTest->new(conf => { user => 'nobody' }, scripts => { 'forge.lua' => $forge });
    $t->start;
    is((stat($t->dir . '/lf.log'))[4], 0, 'a log file luafcgid created stays root\'s');
    is(sprintf('%o', (stat(_))[2] & 07777), '640', 'mode 0640');
    like($t->get('forge.lua', LOGFILE => $t->dir . '/lf.log')->{body}, qr/Permission denied/,
         'a script cannot open it to append');
    $t->stop;
    unlike($t->log, qr/a forged line/, 'and no line of its own is in it');

    my $u = LFTest->new(conf => { user => 'nobody' });
    spew($u->dir . '/lf.log', '');
    $u->start;
    is((stat($u->dir . '/lf.log'))[4], 0, 'a log file that was already there keeps its owner');
    $u->stop;
}

{
    my $t = LFTest->new(scripts => { 'hi.lua' => "function main(env, req) req:log('hello') req:puts('hi') end\n" });
    my $target = precious($t);
    $t->start;
    rename($t->dir . '/lf.log', $t->dir . '/lf.log.1') or die "rename: $!";
    symlink($target, $t->dir . '/lf.log') or die "symlink: $!";
    $t->signal('USR1');
    ok(wait_for(sub { slurp($t->dir . '/lf.log.1') =~ /symbolic link; refusing it/ }, 10),
       'USR1 after the log was replaced by a symlink: the reopen is refused, in the old log');
    is($t->get('hi.lua')->{body}, 'hi', 'the daemon keeps serving');
    ok(wait_for(sub { slurp($t->dir . '/lf.log.1') =~ /: hello$/m }, 10), 'and logging to the old file');
    ok(untouched($target), 'the symlink target is untouched');
    $t->stop;
}

# ---- the pidfile -------------------------------------------------------------

{
    my $t = LFTest->new;
    my $target = precious($t);
    symlink($target, $t->dir . '/lf.pid') or die "symlink: $!";
    my ($rc, $out) = run_to_exit($t, 10);
    is($rc, 1, 'a symlink at the pidfile path: start-up fails');
    like($out, qr/pidfile \S+lf\.pid is a symbolic link; refusing it/, 'with a message naming the pidfile');
    ok(untouched($target), 'and the file it points to is not overwritten with a pid');
}

{
    my $t = LFTest->new;
    my $target = precious($t);
    link($target, $t->dir . '/lf.pid') or die "link: $!";
    my ($rc, $out) = run_to_exit($t, 10);
    is($rc, 1, 'a hard link at the pidfile path: start-up fails');
    like($out, qr/pidfile \S+lf\.pid is not a regular file with a single link/, 'with a message naming the pidfile');
    is(slurp($target), "root's secret\n", 'and the linked file is not overwritten');
}

# ---- escaped log lines -------------------------------------------------------

{
    my $t = LFTest->new(scripts => { 'echo.lua' => "function main(env, req) req:log(env.FORGE) req:puts('ok') end\n" });
    $t->start;
    my $forged = "x\n2030-01-01 00:00:00 [error] forged\r\n\t\x01\x7f";
    is($t->get('echo.lua', FORGE => $forged)->{body}, 'ok', 'a script logs a parameter with newlines');
    $t->get("missing\n2030-01-01 00:00:00 [error] forged.lua");
    my $log;
    ok(wait_for(sub { ($log = $t->log) =~ /missing/ && $log =~ /: x\\n2030/ }, 10), 'both requests were logged');
    my @bad = grep { $_ !~ $line_re } split /\n/, $log;
    is_deeply(\@bad, [], 'every line of the log starts with its date and level');
    like($log, qr/: x\\n2030-01-01 00:00:00 \[error\] forged\\r\\n\\t\\x01\\x7f$/m,
         'control characters are written as \n \r \t \xNN');
    $t->stop;
}

# ---- keys of later versions --------------------------------------------------

# The keys still reserved come from the key table, so the check follows it.
my @later = slurp("$FindBin::Bin/../../../src/conf/conf_keys.c") =~ /K\((\w+),[^)]*CF_LATER\)/g;
SKIP: {
    skip 'every key of the key table works now', 6 unless @later;
    my $key = $later[0];
    my $t = LFTest->new;
    $t->{extra_conf} = "$key = \"/x\"\n";
    $t->write_conf;
    my $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 1, "$key: -t exits 1");
    like($out, qr/key '$key': not supported yet/, 'naming the key');
    my $rc;
    ($rc, $out) = run_to_exit($t, 10);
    is($rc, 1, 'and start-up fails');
    like($out, qr/key '$key': not supported yet/, 'naming the key');

    my $u = LFTest->new(scripts => { 'hi.lua' => "function main(env, req) req:puts('hi') end\n" });
    $u->start;
    $u->{extra_conf} = "$key = \"/x\"\n";
    $u->write_conf;
    $u->signal('HUP');
    ok($u->wait_log(qr/reload failed, keeping the running config: .*key '$key': not supported yet/),
       'on HUP the old config is kept and the log says why');
    is($u->get('hi.lua')->{body}, 'hi', 'and the daemon serves on');
    $u->stop;
}

{
    my $t = LFTest->new(conf => { daemonize => 1 });
    $t->{extra_conf} = "wokers = 3\n";
    $t->write_conf;
    my $out = `${\ LFTest::binary()} ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 0, 'a daemon with a misspelt key starts');
    my ($pid) = slurp($t->dir . '/lf.pid') =~ /^(\d+)$/;
    LFTest::track($pid, 'daemon') if $pid;
    like($t->log, qr/$line_re.*unknown key 'wokers' ignored; did you mean 'workers'\?/,
         'the warning found while loading the config is in the log file');
    like($out, qr/unknown key 'wokers'/, 'and on stderr, as before');
    LFTest::stop_pid($pid, 'TERM', 15) if $pid;
}

# ---- the socket --------------------------------------------------------------

{
    my $t = LFTest->new;
    spew($t->listen_addr, "not a socket\n");
    my ($rc, $out) = run_to_exit($t, 10);
    is($rc, 1, 'a regular file at the socket path: start-up fails');
    like($out, qr/exists and is not a socket/, 'with a clear message');
    is(slurp($t->listen_addr), "not a socket\n", 'and the file is untouched');
}

{
    my $t = LFTest->new(scripts => { 'hi.lua' => "function main(env, req) req:puts('first') end\n" });
    $t->start;
    my $u = LFTest->new(conf => { listen => $t->listen_addr });
    my ($rc, $out) = run_to_exit($u, 10);
    is($rc, 1, 'a second daemon on a live socket: start-up fails');
    like($out, qr/another server is already listening/, 'naming the reason');
    is($t->get('hi.lua')->{body}, 'first', 'and the first one still serves on its socket');
    $t->stop;
}

{
    # A live socket the daemon (as nobody) may not connect to: connect()
    # fails with EACCES, which says nothing about whether it is stale.
    my $t = LFTest->new;
    my $dir = $t->dir . '/run';
    mkdir $dir, 0755;
    chown $nobody, $nogroup, $dir;
    my $sock = "$dir/lf.sock";
    my $live = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $sock, Listen => 5) or die "listen: $!";
    chmod 0600, $sock;
    $t->write_conf(listen => $sock, logfile => "$dir/lf.log", pidfile => "$dir/lf.pid");
    chmod 0644, $t->conf_path;
    # the build may sit under a directory only root can enter (a mktemp -d)
    my $bin = $t->dir . '/luafcgid';
    system('cp', LFTest::binary(), $bin) == 0 or die "cannot copy the binary";
    chmod 0755, $bin;
    my ($rc, $out) = run_to_exit($t, 10, as_nobody => 1, binary => $bin);
    is($rc, 1, 'a live socket the daemon cannot connect to: start-up fails');
    like($out, qr/cannot tell whether \S+lf\.sock is in use.*Permission denied/, 'with the reason');
    ok(-S $sock, 'and the socket is not removed');
    ok(IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock), 'its server still takes connections');
    close $live;
}

{
    # the socket's directory: made when missing, refused when a stranger
    # could replace the socket in it
    my $t = LFTest->new(scripts => { 'hi.lua' => "function main(env, req) req:puts('hi') end\n" });
    $t->write_conf(listen => $t->dir . '/sockdir/lf.sock');
    $t->start;
    my @st = stat($t->dir . '/sockdir');
    ok(@st && $st[4] == 0 && ($st[2] & 07777) == 0755, 'a missing socket directory is made, 0755, owned by root');
    is($t->get('hi.lua')->{body}, 'hi', 'and the daemon serves there');
    $t->stop;

    my $u = LFTest->new;
    mkdir $u->dir . '/open', 0777;
    chmod 0777, $u->dir . '/open';
    $u->write_conf(listen => $u->dir . '/open/lf.sock');
    my ($rc, $out) = run_to_exit($u, 10);
    is($rc, 1, 'a world-writable socket directory without the sticky bit is refused');
    like($out, qr/\S+open is writable by everyone/, 'with the reason');

    my $v = LFTest->new;
    mkdir $v->dir . '/theirs', 0755;
    chown $nobody, $nogroup, $v->dir . '/theirs';
    $v->write_conf(listen => $v->dir . '/theirs/lf.sock');
    ($rc, $out) = run_to_exit($v, 10);
    is($rc, 1, 'a socket directory owned by another user is refused');
    like($out, qr/belongs to uid $nobody, not to root or the daemon's user/, 'with the reason');
}

# ---- a live socket with a full backlog ---------------------------------------

{
    # connect() to it would wait for room for good; start-up must not hang
    my $t = LFTest->new;
    my $sock = $t->dir . '/full.sock';
    socket(my $srv, Socket::AF_UNIX(), SOCK_STREAM, 0) or die "socket: $!";
    bind($srv, Socket::pack_sockaddr_un($sock)) or die "bind: $!";
    listen($srv, 0) or die "listen: $!";
    my @clients;
    for (1 .. 1000) {
        socket(my $c, Socket::AF_UNIX(), SOCK_STREAM, 0) or die "socket: $!";
        my $flags = fcntl($c, Fcntl::F_GETFL(), 0);
        fcntl($c, Fcntl::F_SETFL(), $flags | Fcntl::O_NONBLOCK());
        last unless connect($c, Socket::pack_sockaddr_un($sock));
        push @clients, $c;
    }
    $t->write_conf(listen => $sock);
    my ($rc, $out) = run_to_exit($t, 5);
    is($rc, 1, 'a live socket with a full backlog: start-up fails at once, no hang');
    like($out // '', qr/another server is already listening on \S+full\.sock \(its backlog is full\)/,
         'saying it is in use');
    ok(-S $sock, 'and the socket is left to its server');
    close $_ for @clients;
    close $srv;
}

# ---- who may replace the socket ----------------------------------------------

{
    my $u = LFTest->new;
    mkdir $u->dir . '/sticky';
    chmod 01777, $u->dir . '/sticky';
    $u->write_conf(listen => $u->dir . '/sticky/lf.sock');
    my ($rc, $out) = run_to_exit($u, 10);
    is($rc, 1, 'a world-writable sticky socket directory (as /tmp) is refused');
    like($out // '', qr/\S+sticky is writable by everyone; anyone could replace the socket/,
         'naming the directory');

    my $v = LFTest->new;
    mkdir $v->dir . '/real', 0755;
    symlink($v->dir . '/real', $v->dir . '/link') or die "symlink: $!";
    $v->write_conf(listen => $v->dir . '/link/lf.sock');
    ($rc, $out) = run_to_exit($v, 10);
    is($rc, 1, 'a symlinked socket directory is refused');
    like($out // '', qr/socket directory \S+link is a symbolic link; refusing it/, 'naming it');

    my $w = LFTest->new;
    mkdir $w->dir . '/real', 0755;
    mkdir $w->dir . '/open', 0755;
    chmod 0777, $w->dir . '/open';
    symlink($w->dir . '/open', $w->dir . '/real/up') or die "symlink: $!";
    mkdir $w->dir . '/open/run', 0755;
    $w->write_conf(listen => $w->dir . '/real/up/run/lf.sock');
    ($rc, $out) = run_to_exit($w, 10);
    is($rc, 1, 'a world-writable directory reached through a symlinked ancestor is refused');
    like($out // '', qr/\S+(?:open|real\/up) is writable by everyone/, 'naming it');

    my $x = LFTest->new;
    mkdir $x->dir . '/grp', 0770;
    chown 0, $nogroup, $x->dir . '/grp';
    chmod 0770, $x->dir . '/grp';
    $x->write_conf(listen => $x->dir . '/grp/lf.sock');
    ($rc, $out) = run_to_exit($x, 10);
    is($rc, 1, 'a socket directory writable by another group is refused');
    like($out // '', qr/\S+grp is writable by its group/, 'naming the directory');

    my $g = LFTest->new(conf => { group => scalar getgrgid($nogroup) },
                        scripts => { 'hi.lua' => "function main(env, req) req:puts('hi') end\n" });
    mkdir $g->dir . '/grp', 0770;
    chown 0, $nogroup, $g->dir . '/grp';
    chmod 0770, $g->dir . '/grp';
    $g->write_conf(listen => $g->dir . '/grp/lf.sock');
    $g->start;
    is($g->get('hi.lua')->{body}, 'hi', 'a socket directory writable by the daemon\'s own group is accepted');
    $g->stop;

    my $y = LFTest->new;
    mkdir $y->dir . '/e', 0755;
    chown $nobody, $nogroup, $y->dir . '/e';
    mkdir $y->dir . '/e/run', 0755;
    $y->write_conf(listen => $y->dir . '/e/run/lf.sock');
    ($rc, $out) = run_to_exit($y, 10);
    is($rc, 1, 'a socket directory whose parent belongs to another user is refused');
    like($out // '', qr/\S+\/e belongs to uid $nobody/, 'naming the parent');
    ok(!-d $y->dir . '/e/run2', 'nothing is made there');

    my $z = LFTest->new;
    mkdir $z->dir . '/e', 0755;
    chown $nobody, $nogroup, $z->dir . '/e';
    $z->write_conf(listen => $z->dir . '/e/run/lf.sock');
    ($rc, $out) = run_to_exit($z, 10);
    is($rc, 1, 'a socket directory to be made under another user\'s directory is refused');
    ok(!-e $z->dir . '/e/run', 'and it is not made');
}

# ---- a symlinked parent of the log or the pidfile ----------------------------

{
    for my $which (qw(log pid)) {
        my $t = LFTest->new(conf => { user => 'nobody' });
        my $theirs = $t->dir . '/theirs';
        my $vault = $t->dir . '/vault';
        mkdir $theirs, 0755;
        chown $nobody, $nogroup, $theirs;
        mkdir $vault, 0700;
        symlink($vault, "$theirs/logs") or die "symlink: $!";
        $t->write_conf($which eq 'log' ? (logfile => "$theirs/logs/lf.log")
                                       : (pidfile => "$theirs/logs/lf.pid"));
        my ($rc, $out) = run_to_exit($t, 10);
        my $what = $which eq 'log' ? 'log directory' : 'pidfile directory';
        is($rc, 1, "a symlinked $what: start-up fails");
        like($out // '', qr/$what \S+theirs\/logs is a symbolic link; refusing it/, 'naming it');
        opendir(my $dh, $vault) or die "opendir: $!";
        my @made = grep { !/^\.\.?$/ } readdir $dh;
        is_deeply(\@made, [], 'and no file appears in the directory it points to');
    }

    my $t = LFTest->new(conf => { user => 'nobody' });
    mkdir $t->dir . '/theirs', 0755;
    chown 4242, $nogroup, $t->dir . '/theirs';
    $t->write_conf(logfile => $t->dir . '/theirs/lf.log');
    my ($rc, $out) = run_to_exit($t, 10);
    is($rc, 1, 'a log directory owned by another user than root or user: start-up fails');
    like($out // '', qr/log directory \S+theirs belongs to uid 4242/, 'naming it');
    ok(!-e $t->dir . '/theirs/lf.log', 'and no log is made there');

    my $u = LFTest->new;
    mkdir $u->dir . '/open', 0755;
    chmod 0777, $u->dir . '/open';
    $u->write_conf(pidfile => $u->dir . '/open/lf.pid');
    ($rc, $out) = run_to_exit($u, 10);
    is($rc, 1, 'a world-writable pidfile directory: start-up fails');
    like($out // '', qr/pidfile directory \S+open is world-writable/, 'naming it');
}

{
    # the log directory luafcgid made is the user's after the drop; the
    # supervisor, still root, reopens the log in it on USR1 as well
    my $t = LFTest->new(conf => { user => 'nobody' },
                        scripts => { 'hi.lua' => "function main(env, req) req:log('after') req:puts('hi') end\n" });
    my $logs = $t->dir . '/logs';
    $t->write_conf(logfile => "$logs/lf.log");
    $t->start;
    ok(wait_for(sub { (stat $logs)[4] == $nobody }, 10), 'a log directory luafcgid made is handed to user');
    rename("$logs/lf.log", "$logs/lf.log.1") or die "rename: $!";
    $t->signal('USR1');
    ok(wait_for(sub { -e "$logs/lf.log" }, 10), 'USR1 reopens the log in it');
    is($t->get('hi.lua')->{body}, 'hi', 'the daemon serves on');
    ok(wait_for(sub { slurp("$logs/lf.log") =~ /: after$/m }, 10), 'and logs to the new file');
    $t->stop;
    my $all = slurp("$logs/lf.log.1") . slurp("$logs/lf.log");
    unlike($all, qr/refusing|cannot reopen/, 'no process refused the directory');
}

{
    # The log and its directory are root's (as the Debian package makes
    # them): the serving process, as nobody, can open neither. The
    # supervisor, still root, reopens the log on USR1 and opens the one a
    # HUP names, and passes it on: the serving process's lines follow.
    my $t = LFTest->new(conf => { user => 'nobody' },
                        scripts => { 'hi.lua' => "function main(env, req) req:log('after') req:puts('hi') end\n",
                                     'forge.lua' => $forge });
    my $logs = $t->dir . '/rootlogs';
    mkdir $logs, 0755 or die "mkdir: $!";
    spew("$logs/lf.log", '');
    chmod 0640, "$logs/lf.log";
    $t->write_conf(logfile => "$logs/lf.log");
    $t->start;
    like($t->get('forge.lua', LOGFILE => "$logs/lf.log")->{body}, qr/Permission denied/,
         'a root log in a root directory: a script cannot open it to append');
    rename("$logs/lf.log", "$logs/lf.log.1") or die "rename: $!";
    $t->signal('USR1');
    ok(wait_for(sub { slurp("$logs/lf.log") =~ /log reopened/ }, 10),
       'USR1: the serving process writes to the file the supervisor reopened');
    is((stat("$logs/lf.log"))[4], 0, 'which is root\'s');
    is($t->get('hi.lua')->{body}, 'hi', 'the daemon serves on');
    ok(wait_for(sub { slurp("$logs/lf.log") =~ /: after$/m }, 10), 'and a request\'s line goes there');
    $t->write_conf(logfile => "$logs/other.log");
    $t->signal('HUP');
    ok(wait_for(sub { slurp("$logs/other.log") =~ /reloaded/ }, 10),
       'HUP naming another log: the serving process writes to the one the supervisor opened');
    $t->get('hi.lua');
    ok(wait_for(sub { slurp("$logs/other.log") =~ /: after$/m }, 10), 'requests\' lines too');
    like($t->get('forge.lua', LOGFILE => "$logs/other.log")->{body}, qr/Permission denied/,
         'and no script can append to it');
    $t->stop;
    my $all = join '', map { slurp($_) } glob("$logs/*");
    unlike($all, qr/cannot|refusing|did not come|forged/, 'no process failed to open or take a log');
}

# ---- what a stop leaves behind -----------------------------------------------

{
    # started as root with user: the run directory luafcgid makes stays
    # root's (no script can replace the socket there), and the supervisor,
    # still root, removes the socket and the pidfile on stop
    my $t = LFTest->new(conf => { user => 'nobody' },
                        scripts => { 'hi.lua' => "function main(env, req) req:puts('hi') end\n" });
    my $run = $t->dir . '/run';
    $t->write_conf(listen => "$run/lf.sock", pidfile => "$run/lf.pid");
    $t->start;
    is($t->get('hi.lua')->{body}, 'hi', 'a daemon with user and a run directory it made serves');
    my @st = stat $run;
    ok(@st && $st[4] == 0 && ($st[2] & 07777) == 0755, 'the run directory is root\'s, 0755');
    is($t->stop, 0, 'TERM stops it');
    ok(!-e "$run/lf.sock", 'the socket is removed');
    ok(!-e "$run/lf.pid", 'the pidfile is removed');
    unlike($t->log, qr/\[warn\]|\[error\]/, 'with no warning');
}

{
    # the socket path taken over by another server while we ran: not ours
    my $t = LFTest->new(scripts => { 'hi.lua' => "function main(env, req) req:puts('hi') end\n" });
    $t->start;
    unlink $t->listen_addr or die "unlink: $!";
    my $other = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $t->listen_addr, Listen => 5)
        or die "listen: $!";
    $t->stop;
    ok(-S $t->listen_addr, 'on stop a socket that is no longer ours is left in place');
    ok(IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $t->listen_addr), 'its server still takes connections');
    close $other;
}

# ---- log escaping, the rest ---------------------------------------------------

{
    my $t = LFTest->new(scripts => { 'echo.lua' => <<'LUA' });
function main(env, req)
  req:log("bs", "a\\nb")
  req:log("nul", "before\0after")
  req:log("c1", "x\155y\133z")
  req:log("nel", "p\194\133q")
  req:log("ls", "r\226\128\168s")
  req:log("utf8", "caf\195\169 \226\130\172")
  req:puts('ok')
end
LUA
    $t->start;
    is($t->get('echo.lua')->{body}, 'ok', 'a script logs awkward bytes');
    $t->get("miss\\n\x9b\xc2\x85.lua");
    my $log;
    ok(wait_for(sub { ($log = $t->log) =~ /miss/ && $log =~ /: utf8 / }, 10), 'everything was logged');
    my @bad = grep { $_ !~ $line_re } split /\n/, $log;
    is_deeply(\@bad, [], 'every line of the log starts with its date and level');
    like($log, qr/: bs a\\\\nb$/m, 'a backslash is written as \\\\, so \\n in data is not a newline');
    like($log, qr/: nul before\\x00after$/m, 'a NUL is escaped and the rest is logged');
    like($log, qr/: c1 x\\x9by\\x85z$/m, 'raw C1 bytes are escaped');
    like($log, qr/: nel p\\xc2\\x85q$/m, 'UTF-8 NEL is escaped');
    like($log, qr/: ls r\\xe2\\x80\\xa8s$/m, 'U+2028 is escaped');
    like($log, qr/: utf8 caf\xc3\xa9 \xe2\x82\xac$/m, 'other UTF-8 is kept');
    like($log, qr/miss\\\\n\\x9b\\xc2\\x85\.lua/, 'the name of a missing script is escaped the same way');
    $t->stop;
}

# ---- near misses of keys of later versions -------------------------------------

{
    for my $key (qw(allowed_client allowedclients)) {
        my $t = LFTest->new;
        $t->{extra_conf} = "$key = { \"127.0.0.1\" }\n";
        $t->write_conf;
        my $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
        is($? >> 8, 1, "$key: -t exits 1");
        like($out, qr/key '$key': unknown; did you mean 'allowed_clients'\?/, 'naming both keys');
        my $rc;
        ($rc, $out) = run_to_exit($t, 10);
        is($rc, 1, 'and start-up fails');
    }

    my $t = LFTest->new;
    $t->{extra_conf} = "wokers = 3\n";
    $t->write_conf;
    my $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 0, 'a near miss of a working key: -t exits 0');
    like($out, qr/^luafcgid: \S+lf\.conf: unknown key 'wokers' ignored; did you mean 'workers'\?$/m,
         '-t prints the warning as a command does, not as a log line');
}

# ---- the working directory is not on package.path ----------------------------

{
    my $t = LFTest->new(scripts => { 'req.lua' => <<'LUA' });
function main(env, req)
  local ok, m = pcall(require, "x")
  req:puts(ok and tostring(m) or "not found", "|", package.path, "|", package.cpath)
end
LUA
    my $cwd = $t->dir . '/cwd';
    mkdir $cwd;
    spew("$cwd/x.lua", "return 'from the working directory'\n");
    my $here = getcwd();
    chdir $cwd or die "chdir: $!";
    $t->start;
    chdir $here;
    my ($found, $path, $cpath) = split /\|/, $t->get('req.lua')->{body};
    is($found, 'not found', 'a module in the daemon\'s working directory is not found by require');
    unlike($path, qr/(?:^|;)\./, 'package.path has no relative entry');
    unlike($cpath, qr/(?:^|;)\./, 'package.cpath has no relative entry');
    $t->stop;
}

done_testing;
