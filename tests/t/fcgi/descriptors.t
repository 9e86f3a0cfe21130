# Descriptors, keepalive_max and stopping: out of descriptors the daemon
# backs off and keeps serving, with a bounded log; keepalive_max = 0 keeps
# no connection; TERM answers every request accepted before it.
# one build: descriptors, keepalive_max and the stop, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use LFTest qw(wait_for spew closed_within);

my $slow = "function main(env, req) os.execute('sleep ' .. (env.SLEEP or '0.6')) "
         . "req:puts('slow ', env.QUERY_STRING or '') end\n";
my $echo = "function main(env, req) req:puts('echo ', env.QUERY_STRING or '') end\n";

sub request_on {
    my ($t, $s, $script, $q, %o) = @_;
    my %p = (SCRIPT_FILENAME => $t->www . "/$script", REQUEST_METHOD => 'GET', QUERY_STRING => $q);
    $p{SLEEP} = $o{sleep} if defined $o{sleep};
    $p{FLAG} = $o{flag} if defined $o{flag};
    return LFTest::write_all($s, LFTest::encode_request(\%p, '', keep_conn => $o{keep_conn}));
}

sub log_lines { scalar(() = $_[0]->log =~ /\n/g) }

# ---- out of descriptors ----------------------------------------------------

# The daemon under `ulimit -n 64`, through a wrapper that execs it (same pid).
my $lowfd = LFTest->new(conf => { workers => 2, keepalive_max => 1000, keepalive_timeout => 60 },
                        scripts => { 'echo.lua' => $echo, 'slow.lua' => $slow });
my $wrapper = $lowfd->dir . '/lowfd.sh';
spew($wrapper, "#!/bin/sh\nulimit -n 64 || exit 111\nexec '${\ LFTest::binary()}' \"\$@\"\n");
chmod 0755, $wrapper;
{
    local $ENV{LUAFCGID} = $wrapper;
    $lowfd->start;
}
ok($lowfd->wait_log(qr/descriptor limit is 64 .*keepalive_max 1000 \+ workers 2 \(two each\) \+ backlog \d+ \+ \d+ spare need \d+/),
   'with ulimit -n 64 and keepalive_max 1000, start-up warns that they do not fit');
like($lowfd->get('echo.lua', QUERY_STRING => 'warm')->{body}, qr/^echo warm$/, 'and serves');
$lowfd->write_conf(keepalive_max => 2000);
$lowfd->signal('HUP');
ok($lowfd->wait_log(qr/keepalive_max 2000 \+ workers 2 \(two each\) \+ backlog \d+ \+ \d+ spare/), 'a reload that raises keepalive_max warns too');
$lowfd->write_conf(keepalive_max => 1000);
$lowfd->signal('HUP');
ok($lowfd->wait_log(qr/reloaded(?s:.*)reloaded/), 'and back');
like($lowfd->get('slow.lua', QUERY_STRING => 'warm', SLEEP => '0')->{body}, qr/^slow warm$/, 'both scripts');

# Clients that connect and send nothing until accept() fails: the oldest
# make room, the log stays short, and requests are still served.
{
    my $before = log_lines($lowfd);
    my @silent = grep { defined } map { $lowfd->connect } 1 .. 100;
    is(scalar @silent, 100, '100 silent connections (more than the 64 descriptors)');
    ok($lowfd->wait_log(qr/accept: Too many open files: \d+ attempts failed, \d+ idle connections closed to make room/),
       'accept() failing is logged, with counts');
    sleep 2;
    my $grown = log_lines($lowfd) - $before;
    cmp_ok($grown, '<', 10, "over 2 s out of descriptors the log grew by $grown lines, not thousands");
    like($lowfd->get('echo.lua', QUERY_STRING => 'crowded')->{body}, qr/^echo crowded$/,
         'a request is served while the silent clients hold the descriptors');
    ok(closed_within($silent[0], 5), 'the oldest silent connection was closed to make room');
    close $_ for @silent;
    like($lowfd->get('echo.lua', QUERY_STRING => 'after')->{body}, qr/^echo after$/,
         'once they are gone, a normal request is answered');
}

# Every descriptor taken by a script, nothing idle to close: the leader
# stops accepting for a while (new clients wait in the backlog) instead of
# spinning, and serves them once the script lets go.
{
    my $flag = $lowfd->dir . '/release';
    $lowfd->script('hold.lua', <<"LUA");
function main(env, req)
    local held = {}
    while true do
        -- (io.open checks what it opened, and with LuaJIT it reopens it
        -- through /proc/self/fd: the last descriptor takes io.tmpfile)
        local f = io.open('/dev/null') or io.tmpfile()
        if not f then break end
        held[#held + 1] = f
    end
    -- no descriptor left; os.rename needs none, so it signals both ways
    os.rename('$flag.pending', '$flag.holding')
    while not os.rename('$flag', '$flag') do
        local f = io.open('/dev/null') or io.tmpfile()   -- take back any that came free
        if f then held[#held + 1] = f end
    end
    for _, f in ipairs(held) do f:close() end
    req:puts('held ', #held)
end
LUA
    spew("$flag.pending", '');
    my $h = $lowfd->connect;
    request_on($lowfd, $h, 'hold.lua', 'hold');
    ok(wait_for(sub { -e "$flag.holding" }, 10), 'a script holds every descriptor of the daemon');
    my $before = log_lines($lowfd);
    my @socks;
    for my $i (1 .. 10) {
        my $s = $lowfd->connect or last;
        request_on($lowfd, $s, 'echo.lua', "q$i") or last;
        push @socks, $s;
    }
    is(scalar @socks, 10, 'meanwhile 10 clients connect and send a request');
    ok($lowfd->wait_log(qr/accept: Too many open files: \d+ attempts failed, 0 idle connections closed/),
       'accept() failing with nothing idle to close is logged')
        or diag(join("\n", $lowfd->log =~ /^.*(?:accept|stop|hold).*$/mg));
    sleep 2;
    my $grown = log_lines($lowfd) - $before;
    cmp_ok($grown, '<', 10, "over 2 s the log grew by $grown lines, not thousands");
    spew($flag, '');
    like(LFTest::read_response($h, timeout => 20)->{body}, qr/^held \d+$/, 'the script lets go');
    my $right = grep { my $r = LFTest::read_response($socks[$_ - 1], timeout => 20);
                       $r->{ended} && $r->{body} eq "echo q$_" } 1 .. @socks;
    is($right, 10, 'then every waiting client is answered right');

    # TERM while the script holds every descriptor: what waits in the
    # backlog cannot be accepted, and is reset; the log says so.
    unlink $flag, "$flag.holding";
    spew("$flag.pending", '');
    $h = $lowfd->connect;
    request_on($lowfd, $h, 'hold.lua', 'hold2');
    ok(wait_for(sub { -e "$flag.holding" }, 10), 'a script holds every descriptor again');
    my @waiting = grep { defined } map { $lowfd->connect } 1 .. 5;
    request_on($lowfd, $_, 'echo.lua', 'late') for @waiting;
    $lowfd->signal('TERM');
    ok($lowfd->wait_log(qr/stop: accept: Too many open files: connections still waiting in the backlog could not be accepted and are reset/),
       'TERM: the connections left in the backlog are logged');
    spew($flag, '');
    like(LFTest::read_response($h, timeout => 20)->{body}, qr/^held \d+$/, 'the request in flight is answered');
    is($lowfd->stop, 0, 'stop');

    # A kept connection, accepted before the descriptors run out: on it,
    # the other worker cannot open a script it has not loaded yet. The
    # script is there, so not a 404 (caches and clients would take it as
    # gone) but a 500.
    unlink $flag, "$flag.holding";
    spew("$flag.pending", '');
    my $nofd = LFTest->new(conf => { workers => 2 },
                           scripts => { 'echo.lua' => $echo, 'unloaded.lua' => $echo, 'hold.lua' => LFTest::slurp($lowfd->www . '/hold.lua') });
    { local $ENV{LUAFCGID} = $wrapper; $nofd->start; }
    my $kc = $nofd->connect;
    request_on($nofd, $kc, 'echo.lua', 'kept', keep_conn => 1);
    is(LFTest::read_response($kc, timeout => 20)->{body}, 'echo kept', 'a kept connection is answered');
    $h = $nofd->connect;
    request_on($nofd, $h, 'hold.lua', 'hold3');
    ok(wait_for(sub { -e "$flag.holding" }, 10), 'a script holds every descriptor again');
    request_on($nofd, $kc, 'unloaded.lua', 'x', keep_conn => 1);
    is(LFTest::read_response($kc, timeout => 20)->{status}, 500,
       'a script that cannot be opened for want of descriptors answers 500, not 404');
    ok($nofd->wait_log(qr/500 .*Too many open files/), 'and the log says why')
        or diag(join("\n", $nofd->log =~ /^.*unloaded.*$/mg));
    spew($flag, '');
    like(LFTest::read_response($h, timeout => 20)->{body}, qr/^held \d+$/, 'the script lets go');
    is($nofd->stop, 0, 'stop');
}

# ---- keepalive_max = 0 is refused; new connections are not kept ones --------

# Closing a connection nginx asked to keep (FCGI_KEEP_CONN) races with the
# next request nginx sends on it: nginx logs an upstream error, and does not
# retry a POST. So 0 cannot mean "keep none"; fastcgi_keep_conn off does.
{
    my $t = LFTest->new(conf => { workers => 2, keepalive_max => 0 }, scripts => { 'echo.lua' => $echo });
    my $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 1, '-t refuses keepalive_max = 0');
    like($out, qr/lf\.conf: key 'keepalive_max': must be at least 1: .*FCGI_KEEP_CONN.*fastcgi_keep_conn/,
         'saying why, and what to do instead');
    $out = `timeout 10 ${\ LFTest::binary()} -F ${\ $t->conf_path} 2>&1`;   # bounded, should it start
    is($? >> 8, 1, 'and so does a start');

    # a new connection is not a kept one: a burst of clients that send
    # their requests late are all served, whatever keepalive_max
    $t->write_conf(keepalive_max => 1);
    $t->start;
    my $held = LFTest::sockets($t);
    my @late = map { $t->connect } 1 .. 4;
    ok(wait_for(sub { LFTest::sockets($t) >= $held + 4 }, 5), 'four new connections, taken in, send nothing yet');
    request_on($t, $late[$_ - 1], 'echo.lua', "late$_", keep_conn => 1) for 1 .. 4;
    is(scalar(grep { my $r = LFTest::read_response($late[$_ - 1], timeout => 10);
                     $r->{ended} && $r->{body} eq "echo late$_" } 1 .. 4), 4,
       'keepalive_max = 1: four new connections that send their requests late are all answered');
    # a reload to 0 is refused too, and the daemon keeps its config
    $t->write_conf(keepalive_max => 0);
    $t->signal('HUP');
    ok($t->wait_log(qr/reload failed, keeping the running config: .*keepalive_max/), 'HUP with keepalive_max = 0 is refused');
    is($t->get('echo.lua', QUERY_STRING => 'still')->{body}, 'echo still', 'and the daemon serves on');
    is($t->stop, 0, 'stop');
}

# ---- TERM answers what was accepted ------------------------------------------

# A request that marks its start (MARK) and lasts until the test lets go
# (GO), 30 s at most.
my $held = "function main(env, req) os.execute('touch ' .. env.MARK .. '; i=0; while [ ! -e ' .. env.GO .. "
         . "' ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done') req:puts('held ', env.QUERY_STRING) end\n";

{
    my $t = LFTest->new(conf => { workers => 2, timeout => 60, keepalive_max => 100 },
                        scripts => { 'held.lua' => $held, 'echo.lua' => $echo });
    $t->start;
    my $dir = $t->dir;
    # two kept connections, parked idle
    my @kept = map { my $s = $t->connect; request_on($t, $s, 'echo.lua', "kept$_", keep_conn => 1);
                     LFTest::read_response($s)->{body} eq "echo kept$_" ? $s : undef } 1 .. 2;
    is(scalar(grep { defined } @kept), 2, 'two kept connections, idle');
    # both workers busy
    my @busy = map {
        my $s = $t->connect;
        LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => "$dir/www/held.lua", REQUEST_METHOD => 'GET',
                                                       QUERY_STRING => "busy$_", MARK => "$dir/busy$_", GO => "$dir/go" }, ''));
        $s;
    } 1 .. 2;
    ok(wait_for(sub { -e "$dir/busy1" && -e "$dir/busy2" }, 10), 'both workers run a request that waits');
    # a request on one kept connection, and four new connections, all waiting
    request_on($t, $kept[0], 'echo.lua', 'again', keep_conn => 1);
    my @queued = map { my $s = $t->connect; request_on($t, $s, 'echo.lua', "queued$_"); $s } 1 .. 4;
    $t->signal('TERM');
    ok(wait_for(sub { !$t->can_connect }, 3), 'after TERM new connections are refused at once');
    spew("$dir/go", '');
    is(scalar(grep { my $r = LFTest::read_response($busy[$_ - 1], timeout => 15);
                     $r->{ended} && $r->{body} eq "held busy$_" } 1 .. 2), 2, 'the requests in flight finish');
    is(scalar(grep { my $r = LFTest::read_response($queued[$_ - 1], timeout => 15);
                     $r->{ended} && $r->{body} eq "echo queued$_" } 1 .. 4), 4,
       'every queued connection gets its full, right answer');
    my $r = LFTest::read_response($kept[0], timeout => 15);
    ok($r->{ended} && $r->{body} eq 'echo again', 'a kept connection whose next request had arrived is answered');
    ok(closed_within($kept[0], 5), 'and closed after it');
    ok(closed_within($kept[1], 5), 'an idle kept connection is closed');
    my $pid = $t->pid;
    ok(wait_for(sub { !LFTest::alive($pid) }, 15), 'the daemon exits once they are done');
    is($t->stop, 0, 'with status 0');
    unlike($t->log, qr/cut short|still running/, 'nothing was cut short');
}

# A request that outruns the bound (a C call the timeout cannot interrupt:
# reading a body the client never sends, on the client's clock):
# the daemon exits after timeout + LF_STOP_MARGIN and logs what it cut.
# terminate_timeout is off, though a read waiting on its client is
# client_timeout's to end, never terminate_timeout's (the next block has
# a request stuck in C code instead).
my $reader = "function main(env, req) local f = io.open(env.FLAG, 'w') f:close() "
           . "req:read(65536) req:puts('read') end\n";
sub stuck_reader {
    my ($t, $flag) = @_;
    my $s = $t->connect;
    my %p = (SCRIPT_FILENAME => $t->www . '/reader.lua', REQUEST_METHOD => 'POST',
             CONTENT_LENGTH => '100000', FLAG => $flag);
    my $head = LFTest::encode_request(\%p, 'x' x 9000);     # over 8 kB: a worker takes it unwhole
    $head =~ s/\x01\x05\x00\x01\x00\x00\x00\x00\z//;     # no end of the body: the client goes quiet
    LFTest::write_all($s, $head);
    return $s;
}
{
    my $t = LFTest->new(conf => { workers => 1, timeout => 1, terminate_timeout => 0, upload_memory => 1024,
                                  client_timeout => 60 },
                        scripts => { 'slow.lua' => $slow, 'reader.lua' => $reader });
    $t->start;
    my $flag = $t->dir . '/reading';
    my $s = stuck_reader($t, $flag);
    ok(wait_for(sub { -e $flag }, 10), 'a request is stuck in a C call');
    my @children;
    my $q = $t->connect;
    request_on($t, $q, 'slow.lua', 'waiting', sleep => '0');
    my $t0 = time;
    my $pid = $t->pid;
    $t->signal('TERM');
    ok(wait_for(sub { !LFTest::alive($pid) }, 1 + 5 + 5), 'TERM: the daemon exits within the bound');
    my $took = time - $t0;
    cmp_ok($took, '>=', 1 + 5 - 0.5, sprintf('not before timeout + margin (%.1f s)', $took));
    is($t->stop, 0, 'with status 0');
    like($t->log, qr/stop: 1 requests still running and 1 still waiting after 6 s/, 'and logs what it cut short');
    ok(!-e $t->listen_addr, 'the socket is removed');
    kill 'KILL', @children if @children;
}

# terminate_timeout within the stop's bound: the stuck request is written
# off during the stop (its client gets a 500 page), a new worker serves
# the one that waited, and the daemon exits before the bound, cleanly.
# Stuck in C code (a read waiting on its client is client_timeout's, not
# terminate_timeout's).
SKIP: {
    my $t = LFTest->new(conf => { workers => 1, timeout => 1, terminate_timeout => 2, client_timeout => 60 },
                        scripts => { 'slow.lua' => $slow });
    my $www = $t->www;
    LFTest::c_module($www, 'block', LFTest::slurp(LFTest::top() . '/tests/lib/block.c'))
        or skip("the blocking module: $@", 6);
    $t->script('spin.lua', "package.cpath = '$www/?.so;' .. package.cpath\nlocal block = require 'block'\n"
               . "function main(env, req) local f = io.open(env.FLAG, 'w') f:close() block.sleep(60) "
               . "req:puts('back') end\n");
    $t->start;
    my $flag = $t->dir . '/running';
    my $s = $t->connect;
    request_on($t, $s, 'spin.lua', 'stuck', flag => $flag);
    ok(wait_for(sub { -e $flag }, 10), 'terminate_timeout 2: a request is stuck in a C call');
    my $q = $t->connect;
    request_on($t, $q, 'slow.lua', 'waiting', sleep => '0');
    my $t0 = time;
    my $pid = $t->pid;
    $t->signal('TERM');
    is(LFTest::read_response($s, timeout => 15)->{status}, 500, 'TERM: the stuck one is written off, a 500 page');
    my $r = LFTest::read_response($q, timeout => 15);
    ok($r->{ended} && $r->{body} eq 'slow waiting', 'the waiting request is served by the worker in its place');
    ok(wait_for(sub { !LFTest::alive($pid) }, 1 + 5 + 5), 'the daemon exits');
    is($t->stop, 0, 'with status 0');
    unlike($t->log, qr/still running|cut short/, 'nothing was cut short');
}

done_testing;
