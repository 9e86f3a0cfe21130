# bench/epoll-c.c, the FastCGI hop's physical limit in bench/run: it must
# answer like a FastCGI responder or the limit it gives is a lie. Driven
# with a real FastCGI client on a unix socket: each answer carries its
# request's id, "hello\n" and text/plain; FCGI_KEEP_CONN keeps the
# connection for the next request and its absence closes it; records that
# arrive a byte at a time, or PARAMS near the largest record, are taken;
# an aborted request is ended.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time);
use LFTest ();
use POSIX ();
use Test::More;

plan skip_all => 'bench/epoll-c.c is for Linux (epoll)' unless $^O eq 'linux';
my $top = LFTest::top();
my $cc = LFTest::cc() or plan skip_all => 'no C compiler';
my $dir = tempdir('lf-limit.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $out = `$cc -std=c99 -O2 -Wall -Wextra -Werror -o $dir/epoll-c $top/bench/epoll-c.c 2>&1`;
is($? >> 8, 0, 'bench/epoll-c.c builds without a warning') or diag $out;

my $sock = "$dir/limit.sock";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open(STDOUT, '>', "$dir/limit.out");
    open(STDERR, '>&', \*STDOUT);
    exec("$dir/epoll-c", $sock) or POSIX::_exit(127);
}
LFTest::track($pid, 'epoll-c');
ok(LFTest::wait_for(sub { -S $sock }, 10), 'it listens') or BAIL_OUT('epoll-c did not start');

sub conn { IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock) or die "connect: $!" }

my %params = (SCRIPT_FILENAME => '/hello', REQUEST_METHOD => 'GET', QUERY_STRING => '');

# Records up to and with END_REQUEST: [[type, id, content], ...], or undef
# on a timeout or a close before it
sub read_answer {
    my ($s) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = time + 10;
    my @recs;
    while (1) {
        my $h = LFTest::read_exact($s, $sel, 8, $deadline) // return undef;
        my ($ver, $type, $id, $clen, $plen) = unpack('CCnnC', $h);
        my $c = $clen + $plen ? LFTest::read_exact($s, $sel, $clen + $plen, $deadline) : '';
        return undef unless defined $c;
        push @recs, [$type, $id, substr($c, 0, $clen)];
        return \@recs if $type == 3;
    }
}

sub is_hello {
    my ($recs, $id, $what) = @_;
    ok($recs, "$what: answered") or return;
    my $stdout = join '', map { $_->[2] } grep { $_->[0] == 6 } @$recs;
    is_deeply([map { $_->[1] } @$recs], [($id) x @$recs], "$what: every record carries request id $id");
    like($stdout, qr{^Status: 200 OK\r\n}, "$what: status 200");
    like($stdout, qr{\r\nContent-Type: text/plain\r\n}i, "$what: text/plain");
    like($stdout, qr{\r\n\r\nhello\n\z}, "$what: the body is hello");
    is(unpack('N', $recs->[-1][2]), 0, "$what: END_REQUEST, app status 0");
}

# kept connection: three requests, three ids, one connection
my $s = conn();
for my $id (1, 7, 300) {
    LFTest::write_all($s, LFTest::encode_request(\%params, '', id => $id, keep_conn => 1));
    is_hello(read_answer($s), $id, "kept connection, request $id");
}
# and a last one without FCGI_KEEP_CONN: answered, then closed
LFTest::write_all($s, LFTest::encode_request(\%params, 'a body', id => 2));
is_hello(read_answer($s), 2, 'without FCGI_KEEP_CONN');
ok(LFTest::closed_within($s, 10), 'without FCGI_KEEP_CONN the connection is closed after the answer');
close $s;

# a request a byte at a time, with a body
$s = conn();
my $req = LFTest::encode_request(\%params, 'x' x 100, id => 5, keep_conn => 1);
for my $i (0 .. length($req) - 1) {
    LFTest::write_all($s, substr($req, $i, 1));
    LFTest::wait_for(sub { LFTest::drained($s) }, 5) if $i % 16 == 0;
}
is_hello(read_answer($s), 5, 'a request written a byte at a time');

# PARAMS of one near-largest record, on the same connection
LFTest::write_all($s, LFTest::encode_request({ %params, BIG => 'v' x 65000 }, '', id => 6, keep_conn => 1));
is_hello(read_answer($s), 6, 'a 65000-byte parameter');

# an aborted request is ended, and the connection goes on
LFTest::write_all($s, LFTest::record(1, 9, pack('nCx5', 1, 1)) . LFTest::record(2, 9, ''));
my $recs = read_answer($s);
ok($recs && @$recs == 1 && $recs->[0][0] == 3 && $recs->[0][1] == 9, 'ABORT_REQUEST: END_REQUEST for its id');
LFTest::write_all($s, LFTest::encode_request(\%params, '', id => 10, keep_conn => 1));
is_hello(read_answer($s), 10, 'and the connection serves the next request');
close $s;

# many connections at once, then one more: nothing was lost
my @many = map { conn() } 1 .. 50;
LFTest::write_all($_, LFTest::encode_request(\%params, '', id => 3, keep_conn => 1)) for @many;
is(scalar(grep { my $r = read_answer($_); $r && $r->[-1][0] == 3 } @many), 50, '50 connections at once all answered');
close $_ for @many;
$s = conn();
LFTest::write_all($s, LFTest::encode_request(\%params, ''));
is_hello(read_answer($s), 1, 'a new connection after them');
close $s;

ok(kill(0, $pid), 'epoll-c is still running');
LFTest::stop_pid($pid, 'TERM', 10);
is(LFTest::slurp("$dir/limit.out"), '', 'and it said nothing on stderr');
done_testing;
