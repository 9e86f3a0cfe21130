# Bad input on the socket and clients that stall or vanish: the connection
# is dropped or answered cleanly, and the daemon serves on.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Select;
use Time::HiRes qw(time);
use LFTest qw(wait_for);

my $t = LFTest->new(conf => { workers => 1, timeout => 2, client_timeout => 2, loglevel => 'info' });
$t->script('ok.lua', "function main(env, req) req:puts('fine ', env.QUERY_STRING) end\n");
$t->script('big.lua', "local s = string.rep('x', 1024 * 1024)\nfunction main(env, req) for i = 1, 16 do req:puts(s) end end\n");
$t->script('many.lua', "function main(env, req) local n = 0 for k in pairs(env) do n = n + 1 end req:puts(n) end\n");
$t->start;
my $script = $t->www . '/ok.lua';

sub serves {
    my ($q, $seconds) = @_;
    my $t0 = time;
    my $r = $t->get('ok.lua', QUERY_STRING => $q);
    return $r->{body} eq "fine $q" && time - $t0 < ($seconds // 5);
}

sub dropped { LFTest::closed_within(@_) }

sub raw {
    my ($bytes) = @_;
    my $s = $t->connect;
    LFTest::write_all($s, $bytes);
    return $s;
}

my $begin = LFTest::record(1, 1, pack('nCx5', 1, 0));
my $params = LFTest::stream(4, 1, LFTest::nv_len('SCRIPT_FILENAME') . LFTest::nv_len($script) . "SCRIPT_FILENAME$script");

ok(dropped(raw("\x01\x01\x00")), 'a truncated record header: dropped');
ok(serves('a'), 'then a good request is served');
ok(dropped(raw(join('', map { chr(($_ * 7919) % 256) } 1 .. 2048))), 'two KiB of garbage: dropped');
ok(serves('b'), 'served');
# A connection closed with no answer: its records, none of them FCGI_END_REQUEST.
sub unanswered {
    my ($s) = @_;
    my $r = LFTest::read_response($s, timeout => 5);
    return !$r->{ended} && $r->{stdout} eq '' && dropped($s, 1);
}

ok(unanswered(raw(LFTest::record(99, 1, 'whatever') . $begin . $params . LFTest::stream(5, 1, ''))),
   'an unknown record type first: closed unanswered');
ok($t->wait_log(qr/type 99, request id 1, content 8\): a request must open with a BEGIN_REQUEST/),
   'and logged, naming the record');
ok(serves('c'), 'served');
{
    my $s = raw(LFTest::record(1, 1, pack('nCx5', 2, 0)) . $params . LFTest::stream(5, 1, ''));
    my $r = LFTest::read_response($s, timeout => 5);
    ok($r->{ended} || dropped($s), 'the authorizer role: refused with FCGI_END_REQUEST or dropped');
}
ok(serves('d'), 'served');
{
    # FCGI_GET_VALUES on the management id
    my $q = LFTest::nv_len('FCGI_MPXS_CONNS') . LFTest::nv_len('') . 'FCGI_MPXS_CONNS';
    my $s = raw(LFTest::record(9, 0, $q));
    my $h = LFTest::read_exact($s, IO::Select->new($s), 8, time + 5) // '';
    my ($type, $id, $len) = length $h == 8 ? (unpack('CCnnC', $h))[1, 2, 3] : (0, -1, 0);
    ok($type == 10 && $id == 0, 'FCGI_GET_VALUES on the management id: answered with FCGI_GET_VALUES_RESULT');
    my $body = $len ? LFTest::read_exact($s, IO::Select->new($s), $len, time + 5) // '' : '';
    is($body, LFTest::nv_len('FCGI_MPXS_CONNS') . LFTest::nv_len('0') . 'FCGI_MPXS_CONNS0',
       'FCGI_MPXS_CONNS is 0: one request a connection');
}
ok(serves('e'), 'served');
ok(dropped(raw($begin . substr($params, 0, 20))), 'a request cut off inside its parameters: dropped within the timeout');
ok(serves('f'), 'served');
ok(dropped(raw($begin . LFTest::record(4, 1, "\xff\xff\xff\xff\x00abc"))), 'a parameter claiming 2 GiB: dropped');
ok(serves('g'), 'served');
{
    my %p = (SCRIPT_FILENAME => $t->www . '/many.lua', REQUEST_METHOD => 'GET');
    $p{"HTTP_X_$_"} = 'v' x 100 for 1 .. 20000;
    my $r = $t->fcgi(\%p, '', timeout => 20);
    ok(!$r->{ended} && $r->{stdout} eq '', '20000 parameters (2 MiB, over maxparams): dropped unanswered')
        or diag("status $r->{status}, body " . substr($r->{body}, 0, 200));
}
ok(serves('h'), 'served');
{
    ok(unanswered(raw($begin . $begin . $params . LFTest::stream(5, 1, ''))),
       'two BEGIN_REQUESTs on one connection: closed unanswered');
    ok($t->wait_log(qr/type 1, request id 1, content 8\): PARAMS expected/), 'and logged, naming the record');
}
ok(serves('i'), 'served');

# stalls: the only worker cannot be held longer than client_timeout (2 s)
{
    my $s = raw($begin . substr($params, 0, 40));
    ok(serves('after-partial', 8), 'a client that stops halfway through its request holds the one worker at most client_timeout');
    ok(dropped($s, 5), 'and its connection is closed');
}
{
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/big.lua', REQUEST_METHOD => 'GET' }, ''));
    # never read the 16 MiB answer
    ok(serves('after-unread', 10), 'a client that stops reading the answer holds the worker at most client_timeout');
    close $s;
}
{
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/big.lua', REQUEST_METHOD => 'GET' }, ''));
    close $s;       # hang up before the answer
    ok(serves('after-hangup'), 'a client that hangs up mid-response costs only its request');
    ok($t->wait_log(qr/big\.lua: the client went away mid-response/), 'which is logged');
}
my @silent = map { $t->connect } 1 .. 20;
ok(serves('after-silent', 2), 'twenty silent connections and one worker: a real request is served at once');
close $_ for @silent;

unlike($t->log, qr/\[error\].*(accept|dispatcher|poll)/, 'no dispatcher errors in the log');
is($t->stop, 0, 'the daemon stops cleanly after all of it');
done_testing;
