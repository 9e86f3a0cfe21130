# A request is given a worker only once it is whole (or 8 kB of it are
# in): clients that send their params or body a little at a time hold no
# worker, so with more of them than workers the daemon serves on; their
# requests are served, bytes intact, once they end; those that never end
# are closed at client_timeout and logged; management records, or parts
# of them, before a request hold no worker either, nor do whole ones alone
# (the dispatcher answers those); a USR2 upgrade passes them on
# unread, and the new serving process answers them.
# one build: the dispatcher, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Copy qw(copy);
use IO::Select;
use Time::HiRes qw(time sleep);
use LFTest qw(wait_for closed_within alive);

plan skip_all => 'requests are watched for their end with epoll, on Linux only' unless $^O eq 'linux';

my $echo = "function main(env, req) req:puts(env.QUERY_STRING, ' ', #(req:gets() or '')) end\n";
my $t = LFTest->new(conf => { workers => 2, client_timeout => 3 }, scripts => { 'echo.lua' => $echo });
my $d = $t->dir;
copy(LFTest::binary(), "$d/luafcgid") or die;     # run from a path of its own: USR2 below execs it
chmod 0755, "$d/luafcgid";
{ local $ENV{LUAFCGID} = "$d/luafcgid"; $t->start; }

sub request {
    my ($name, $body) = @_;
    return LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/echo.lua', REQUEST_METHOD => 'POST',
                                    QUERY_STRING => $name, CONTENT_LENGTH => length $body,
                                    HTTP_X_REQUEST_ID => "id-$name" }, $body);
}
# A whole GET behind the connections a test holds: served, and at once,
# not at client_timeout (none of them holds a worker).
sub served_at_once {
    my ($q, $what) = @_;
    my $t1 = time;
    my $r = $t->fcgi({ SCRIPT_FILENAME => $t->www . '/echo.lua', REQUEST_METHOD => 'GET', QUERY_STRING => $q }, '',
                     timeout => 10);
    my $took = time - $t1;
    is($r->{body}, "$q 0", $what);
    cmp_ok($took, '<', 1, sprintf('at once (%.2f s), not at client_timeout', $took));
}

my @cuts = (
    [ params => 20 ],                              # within the params
    [ body => length(request('body', 'b' x 500)) - 300 ],   # within the body
);

# Four slow clients, two of each kind, on two workers: none is served,
# none holds a worker.
my (@slow, @rest);
for my $k (1 .. 2) {
    for my $c (@cuts) {
        my ($name, $at) = @$c;
        my $req = request("$name$k", 'b' x 500);
        my $s = $t->connect;
        LFTest::write_all($s, substr($req, 0, $at));
        push @slow, $s;
        push @rest, substr($req, $at);
    }
}
# (They connected first, so the dispatcher takes them first, and before
# this the workers would have.)
my $t0 = time;
served_at_once('prompt', 'a whole request is served while four requests are not whole, on two workers');

# Two of them end, each in two more writes: answered, their bytes intact.
for my $i (0, 1) {
    my $half = int(length($rest[$i]) / 2);
    LFTest::write_all($slow[$i], substr($rest[$i], 0, $half));
    sleep 0.05;
    LFTest::write_all($slow[$i], substr($rest[$i], $half));
}
is(LFTest::read_response($slow[0], timeout => 10)->{body}, 'params1 500', 'a request whose params came late is served whole');
is(LFTest::read_response($slow[1], timeout => 10)->{body}, 'body1 500', 'a request whose body came late is served whole');

# The two that never end are closed at client_timeout, and logged.
ok(closed_within($slow[2], 8), 'a request never whole (params): closed');
ok(closed_within($slow[3], 8), 'a request never whole (body): closed');
my $held = time - $t0;
cmp_ok($held, '>', 2.5, sprintf('at client_timeout (3 s), not before (%.1f s)', $held));
ok($t->wait_log(qr/dispatcher: fd \d+: -: the client was too slow \(client_timeout 3\); the connection is closed, its request never whole/),
   'the params one is logged, with no script yet');
ok($t->wait_log(qr/dispatcher request id-body2: fd \d+: \S+echo\.lua: the client was too slow \(client_timeout 3\)/),
   'the body one is logged with its request id and script');

# A client gone with its request in part: ended by a worker at once, as
# any request cut short is (not held to client_timeout).
{
    my $req = request('gone', 'g' x 100);
    my $s = $t->connect;
    LFTest::write_all($s, substr($req, 0, length($req) - 50));
    shutdown($s, 1);
    $t0 = time;
    ok(closed_within($s, 8), 'a client that hung up halfway: its connection ends');
    cmp_ok(time - $t0, '<', 2, 'at once, not at client_timeout');
}

# A request trickled a byte at a time, within client_timeout: served once
# whole, and both workers serve meanwhile.
{
    my $req = request('trickle', 'b' x 40);
    my $s = $t->connect;
    my $step = 1.2 / length $req;     # well within client_timeout (3 s) on a busy machine
    my $served = 0;
    for my $i (0 .. length($req) - 1) {
        LFTest::write_all($s, substr($req, $i, 1));
        $served++ if $i % 40 == 0 && $t->get('echo.lua', QUERY_STRING => "beside$i", timeout => 2)->{body} eq "beside$i 0";
        sleep $step;
    }
    is($served, int((length($req) - 1) / 40) + 1, 'other requests are served while one trickles in');
    is(LFTest::read_response($s, timeout => 10)->{body}, 'trickle 40', 'the trickled request is served whole');
}

# A fast writer of many small records (a web server passing a body on as
# it comes, a few bytes at a time) is not stopped: a unix socket charges
# each write far more than its bytes, so the writer could not queue 8 kB
# unread; past 32 records a worker takes the request up.
{
    my $n = 2000;
    my $params = { SCRIPT_FILENAME => $t->www . '/echo.lua', REQUEST_METHOD => 'POST', QUERY_STRING => 'small',
                   CONTENT_LENGTH => $n };
    my $s = $t->connect;
    LFTest::write_all($s, substr(LFTest::encode_request($params, ''), 0, -8));    # all but the body
    $s->blocking(0);
    my $sel = IO::Select->new($s);
    my $sent = 0;
    while ($sent < $n) {
        my $rec = LFTest::record(5, 1, 'x');
        my $w = syswrite($s, $rec);
        if (defined $w) { die "a partial write\n" if $w != length $rec; $sent++; next }
        last unless $sel->can_write(5);
    }
    $s->blocking(1);
    is($sent, $n, "$n one-byte body records, each a write of its own, are all taken");
    if ($sent == $n) {
        LFTest::write_all($s, LFTest::record(5, 1, ''));
        is(LFTest::read_response($s, timeout => 10)->{body}, "small $n", 'and the request is served whole');
    } else {
        fail('and the request is served whole (the writer was stopped)');
    }
    close $s;
}

# Management records wait too: one cut short, or a whole one and then a
# request in part, holds no worker; the request, once whole, is served
# after the management record's answer.
{
    my $getv = LFTest::record(9, 0, "\x0e\x00FCGI_MAX_CONNS");
    my @cut = map { my $s = $t->connect; LFTest::write_all($s, substr($getv, 0, 3)); $s } 1 .. 2;
    my @then = map {
        my $s = $t->connect;
        LFTest::write_all($s, $getv . substr(request("aftermgmt$_", 'm' x 50), 0, 20));
        $s
    } 1 .. 2;
    served_at_once('mgmt', 'a request is served while four connections hold management records or parts of them');
    for my $i (1, 2) {
        LFTest::write_all($then[$i - 1], substr(request("aftermgmt$i", 'm' x 50), 20));
        is(LFTest::read_response($then[$i - 1], timeout => 10)->{body}, "aftermgmt$i 50",
           "a request after a management record, once whole, is served ($i)");
    }
    ok(closed_within($cut[0], 8), 'a management record never whole: closed at client_timeout');
    close $_ for @cut, @then;
}

# Management records alone are answered by the dispatcher, which takes
# exactly their bytes off the socket: the start of a request sent right
# behind them, in a write of its own, is never read with them by a worker
# that would then wait in libfcgi for the rest (before, some of 60 such
# connections won that race, and every worker was held until
# client_timeout).
{
    my $getv = LFTest::record(9, 0, "\x0e\x00FCGI_MAX_CONNS");
    my @s;
    for my $i (1 .. 60) {
        my $s = $t->connect;
        LFTest::write_all($s, $getv);
        LFTest::write_all($s, substr(request("race$i", 'r' x 10), 0, 20));
        push @s, $s;
    }
    served_at_once('race', 'a request is served behind 60 connections that sent GET_VALUES, then a request in part');
    my $answered = 0;
    for my $s (@s) {
        my $sel = IO::Select->new($s);
        my $h = LFTest::read_exact($s, $sel, 8, time + 5) // next;
        my (undef, $type, $id, $clen, $plen) = unpack('CCnnC', $h);
        my $c = LFTest::read_exact($s, $sel, $clen + $plen, time + 5) // next;
        $answered++ if $type == 10 && $id == 0 && substr($c, 0, $clen) =~ /^\x0e.FCGI_MAX_CONNS\d+$/s;
    }
    is($answered, 60, 'each connection got its FCGI_GET_VALUES_RESULT');
    LFTest::write_all($s[0], substr(request('race1', 'r' x 10), 20));
    is(LFTest::read_response($s[0], timeout => 10)->{body}, 'race1 10', 'and its request, once whole, is served');
    close $_ for @s;
}

# A management record among the request's own records waits with it:
# three requests, each cut after one, hold neither worker.
{
    my $getv = LFTest::record(9, 0, "\x0e\x00FCGI_MAX_CONNS");
    my $req = request('inside', 'i' x 50);
    my @s = map {
        my $s = $t->connect;
        LFTest::write_all($s, substr($req, 0, 16) . $getv . substr($req, 16, 20));     # BEGIN_REQUEST, it, params cut
        $s
    } 1 .. 3;
    served_at_once('among', 'a request is served while three hold a management record among their records, cut');
    LFTest::write_all($s[0], substr($req, 36));
    is(LFTest::read_response($s[0], timeout => 10)->{body}, 'inside 50', 'such a request, once whole, is served');
    close $_ for @s;
}

# A second request id begun behind the first, which a worker refuses
# (FCGI_CANT_MPX_CONN) and whose records it drops, waits too: three such
# requests cut short hold neither worker.
{
    my $req = request('second', 's' x 10);
    my $begin2 = LFTest::record(1, 2, pack('nCx5', 1, 0));
    my @s = map {
        my $s = $t->connect;
        LFTest::write_all($s, substr($req, 0, 16) . $begin2 . substr($req, 16, 20));
        $s
    } 1 .. 3;
    served_at_once('mpx', 'a request is served while three hold a second request id, cut short');
    LFTest::write_all($s[0], substr($req, 36));
    my ($sel, $until, %ended, $out) = (IO::Select->new($s[0]), time + 10);
    while (!$ended{1}) {
        my $h = LFTest::read_exact($s[0], $sel, 8, $until) // last;
        my (undef, $type, $id, $clen, $plen) = unpack('CCnnC', $h);
        my $c = LFTest::read_exact($s[0], $sel, $clen + $plen, $until) // last;
        $out .= substr($c, 0, $clen) if $type == 6 && $id == 1;
        $ended{$id} = unpack('x4C', $c) if $type == 3;
    }
    is($ended{2}, 1, 'once whole, the second request id is refused (FCGI_CANT_MPX_CONN)');
    like($out // '', qr/second 10$/, 'and the request is served');
    close $_ for @s;
}

# A header cut short waits to be whole, even one whose first bytes show a
# record a worker refuses (of a request never begun): a worker could not
# refuse it before its last bytes either. Whole, it is refused at once.
{
    my $begin = substr(request('cut', ''), 0, 16);
    my @s = map { my $s = $t->connect; LFTest::write_all($s, $begin . "\x01\x04\x00\x05"); $s } 1 .. 3;
    served_at_once('cuthead', 'a request is served while three hold a refused record\'s header, cut');
    LFTest::write_all($s[0], "\x00\x00\x00\x00");
    ok(closed_within($s[0], 5), 'whole, the record is refused and the connection closed');
    close $_ for @s;
}

# USR2 with a request not whole yet: passed on unread, served by the new
# serving process once it ends.
{
    my $req = request('upgraded', 'u' x 300);
    my $s = $t->connect;
    LFTest::write_all($s, substr($req, 0, 100));
    is($t->get('echo.lua', QUERY_STRING => 'behind')->{body}, 'behind 0',
       'a request in part before USR2, and one behind it served: the first was taken up');
    $t->signal('USR2');
    ok($t->wait_log(qr/the new binary serves as pid (\d+)/, 30), 'USR2: the new binary takes over');
    my ($new) = $t->log =~ /the new binary serves as pid (\d+)/;
    LFTest::track($new, 'luafcgid (upgraded)') if $new;
    LFTest::write_all($s, substr($req, 100));
    is(LFTest::read_response($s, timeout => 10)->{body}, 'upgraded 300', 'its end comes after: served whole');
    LFTest::stop_pid($t->pid, 0, 30);
    $t->{pid} = undef;
    if ($new) { kill 'TERM', $new; ok(wait_for(sub { !alive($new) }, 20), 'the new one stops'); LFTest::untrack($new); }
}

diag($t->log) if $ENV{LF_DIAG};
done_testing;
