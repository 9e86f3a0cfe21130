# allowed_clients: TCP clients outside the list are closed at once and
# logged (rate-limited); those inside are served; the forms parse, and bad
# ones are -t errors naming the key; a HUP changes the list.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use IO::Socket::IP;
use LFTest qw(free_port closed_within wait_for);

my $hello = "function main(env, req) req:puts('allowed') end\n";

# A request over TCP to HOST:PORT from the local address FROM.
sub request_from {
    my ($t, $from, $host, $port) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $host, PeerService => $port, LocalHost => $from,
                                Proto => 'tcp', Timeout => 5) or return { error => "connect: $!" };
    my %p = (SCRIPT_FILENAME => $t->www . '/hello.lua', REQUEST_METHOD => 'GET',
             SERVER_PROTOCOL => 'HTTP/1.1', GATEWAY_INTERFACE => 'CGI/1.1', QUERY_STRING => '');
    LFTest::write_all($s, LFTest::encode_request(\%p, ''));
    my $r = LFTest::read_response($s, timeout => 10);
    close $s;
    return $r;
}

sub check_conf {
    my ($list) = @_;
    my $t = LFTest->new(conf => { allowed_clients => $list });
    my $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    return ($? >> 8, $out);
}

# ---- forms ----
my ($rc, $out) = check_conf([ '127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', '::ffff:192.168.0.0/112' ]);
is($rc, 0, 'IPv4, IPv6, CIDR and IPv4-mapped forms pass -t') or diag $out;
for my $bad ('10.0.0.0/33', 'localhost', '::/129', '10.0.0.0/', '1.2.3') {
    ($rc, $out) = check_conf([ '127.0.0.1', $bad ]);
    is($rc, 1, "'$bad' fails -t");
    like($out, qr/key 'allowed_clients': '\Q$bad\E'/, "and the message names the key and the entry");
}
($rc, $out) = check_conf(\'{ 10 }');
is($rc, 1, 'a number in the list is a -t error');
like($out, qr/key 'allowed_clients'/, 'naming the key');
for my $bad ('{ web1 = "127.0.0.1" }', '{ [1] = "127.0.0.1", [3] = "127.0.0.2" }', '{ "127.0.0.1", x = "10.0.0.1" }',
             '{ "127.0.0.1\\0junk" }') {
    ($rc, $out) = check_conf(\$bad);
    is($rc, 1, "allowed_clients = $bad is a -t error");
    like($out, qr/key 'allowed_clients'/, 'naming the key') or diag $out;
}
{
    my $t = LFTest->new(conf => { listen => '127.0.0.1:' . free_port() });
    $t->{extra_conf} = "listen_allowed_clients = \"127.0.0.1\"\n";
    $t->write_conf;
    $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 1, "php-fpm's listen_allowed_clients is a -t error");
    like($out, qr/key 'listen_allowed_clients'.*allowed_clients/, 'naming the key it is for') or diag $out;
    $t->write_conf(extensions => \'{ lua = ".lua" }');
    $t->{extra_conf} = '';
    $t->write_conf;
    $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 1, 'so is a table with keys for another list key');
    like($out, qr/key 'extensions'/, 'naming it') or diag $out;
}

# ---- a kept connection whose client a HUP removes ----
{
    my $p = free_port();
    my $t = LFTest->new(conf => { listen => "127.0.0.1:$p", allowed_clients => [ '127.0.0.9' ] },
                        scripts => { 'hello.lua' => $hello });
    $t->start;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p, LocalAddr => '127.0.0.9',
                                  Proto => 'tcp', Timeout => 5) or die "connect: $!";
    my %p = (SCRIPT_FILENAME => $t->www . '/hello.lua', REQUEST_METHOD => 'GET', SERVER_PROTOCOL => 'HTTP/1.1',
             GATEWAY_INTERFACE => 'CGI/1.1', QUERY_STRING => '');
    my $req = sub {
        LFTest::write_all($s, LFTest::encode_request(\%p, '', keep_conn => 1, id => $_[0]));
        LFTest::read_response($s, timeout => 5);
    };
    is($req->(1)->{body}, 'allowed', 'a kept connection from 127.0.0.9 is served while allowed');
    $t->write_conf(allowed_clients => [ '127.0.0.1' ]);
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded/), 'HUP takes 127.0.0.9 off allowed_clients');
    my $r = $req->(2);
    isnt($r->{body} // '', 'allowed', 'its next request is not served');
    ok(closed_within($s, 5), 'the connection is closed');
    is($t->get('hello.lua')->{body}, 'allowed', 'the daemon serves on');
    is($t->stop, 0, 'stop');
}

# ---- listen forms that would not listen where they say ----
for my $l ('127.0.0.1:99999', '127.0.0.1:0', ':0', '127.0.0.1:000080000', ':abc', '[::1]:x', '[::1]:', '127.0.0.1:', 'localhost:abc', '*:x') {
    my $t = LFTest->new(conf => { listen => $l });
    $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 1, "listen = '$l' is a -t error");
    like($out, qr/key 'listen'.*port must be 1 to 65535/, 'saying why') or diag $out;
}
{
    my $p = free_port();
    my $t = LFTest->new(conf => { listen => [ "127.0.0.1:$p", "127.0.0.1:$p" ] });
    $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
    is($? >> 8, 1, 'a listen entry given twice is a -t error');
    like($out, qr/key 'listen'.*listed twice/, 'saying so') or diag $out;
}
SKIP: {
    skip 'no IPv6', 2 unless IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
    my $p = free_port();
    my $t = LFTest->new(conf => { listen => [ "0.0.0.0:$p", "[::]:$p" ], allowed_clients => [ '127.0.0.1', '::1' ] },
                        scripts => { 'hello.lua' => $hello });
    $t->{conf}{listen} = "127.0.0.1:$p";        # where LFTest connects
    ok(eval { $t->start; 1 }, '{ "0.0.0.0:P", "[::]:P" } starts (IPv6 only on [::], as nginx)') or diag $t->log;
    is(request_from($t, '::1', '::1', $p)->{body}, 'allowed', 'and serves IPv6 too');
    $t->stop;
}

# ---- refused and served ----
my $port = free_port();
my $t = LFTest->new(conf => { listen => "127.0.0.1:$port", allowed_clients => [ '127.0.0.1', '10.0.0.0/8' ] },
                    scripts => { 'hello.lua' => $hello });
$t->start;
my $r = request_from($t, '127.0.0.1', '127.0.0.1', $port);
is($r->{body}, 'allowed', 'a client from 127.0.0.1 (in allowed_clients) is served');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, LocalAddr => '127.0.0.9',
                              Proto => 'tcp', Timeout => 5);
ok($s, 'a client bound to 127.0.0.9 connects (the kernel accepts)');
ok(closed_within($s, 5), 'and is closed at once without a request') if $s;
$r = request_from($t, '127.0.0.9', '127.0.0.1', $port);
ok(!$r->{ended} && ($r->{body} // '') eq '', 'a request from 127.0.0.9 gets no answer');
ok($t->wait_log(qr/refused a connection from 127\.0\.0\.9: not in allowed_clients/),
   'the refusal is logged with the address');
request_from($t, '127.0.0.9', '127.0.0.1', $port) for 1 .. 5;
is($t->get('hello.lua')->{body}, 'allowed', 'the daemon keeps serving');
my @lines = $t->log =~ /refused a connection/g;
is(scalar @lines, 1, 'refusals in a burst are logged once (rate-limited)');
unlike($t->log, qr/reachable from other hosts/, 'no warning for a loopback listen');

# ---- a reload changes the list ----
$t->write_conf(allowed_clients => [ '127.0.0.9' ]);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP');
$r = request_from($t, '127.0.0.9', '127.0.0.1', $port);
is($r->{body}, 'allowed', 'after a reload 127.0.0.9 is served');
$r = request_from($t, '127.0.0.1', '127.0.0.1', $port);
ok(!$r->{ended}, 'and 127.0.0.1 no longer');
is($t->stop, 0, 'stop');

# ---- IPv6 ----
SKIP: {
    my $probe = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
    skip 'no IPv6 loopback', 3 unless $probe;
    close $probe;
    my $p6 = free_port();
    my $t6 = LFTest->new(conf => { listen => "[::1]:$p6", allowed_clients => [ '::1' ] },
                         scripts => { 'hello.lua' => $hello });
    $t6->start;
    is(request_from($t6, '::1', '::1', $p6)->{body}, 'allowed', 'listen = "[::1]:PORT" serves ::1 when allowed');
    $t6->write_conf(allowed_clients => [ '127.0.0.1' ]);
    $t6->signal('HUP');
    ok($t6->wait_log(qr/reloaded/), 'HUP');
    ok(!request_from($t6, '::1', '::1', $p6)->{ended}, 'and refuses ::1 once it is not');
    $t6->stop;
}

# ---- listen as a list: a unix socket and a TCP port ----
{
    my $pl = free_port();
    my $both = LFTest->new(conf => { workers => 2, allowed_clients => [ '127.0.0.9' ] },
                           scripts => { 'hello.lua' => $hello });
    my $sock = $both->dir . '/lf.sock';
    $both->write_conf(listen => [ $sock, "127.0.0.1:$pl" ]);
    $both->{conf}{listen} = $sock;      # LFTest connects to the first
    $both->start;
    ok($both->wait_log(qr/listening on \Q$sock\E, 127\.0\.0\.1:$pl/), 'listen = { unix, TCP } binds both');
    is($both->get('hello.lua')->{body}, 'allowed', 'the unix socket serves (allowed_clients is for TCP)');
    is(request_from($both, '127.0.0.9', '127.0.0.1', $pl)->{body}, 'allowed', 'and so does the TCP port');
    ok(!request_from($both, '127.0.0.1', '127.0.0.1', $pl)->{ended}, 'where allowed_clients applies');

    # USR2 hands both sockets over
    my $old = $both->pid;
    $both->signal('USR2');
    ok($both->wait_log(qr/the new binary serves as pid (\d+)/, 20), 'USR2: a new binary takes both sockets');
    my ($new) = $both->log =~ /the new binary serves as pid (\d+)/;
    LFTest::track($new, 'luafcgid (upgraded)') if $new;
    is(LFTest::stop_pid($old, 0, 30), 0, 'the old one exits 0 once drained');
    $both->{pid} = undef;
    ok(-S $sock, 'leaving the unix socket file in place');
    is($both->get('hello.lua')->{body}, 'allowed', 'the new one serves the unix socket');
    is(request_from($both, '127.0.0.9', '127.0.0.1', $pl)->{body}, 'allowed', 'and the TCP port');
    if ($new) {
        kill 'TERM', $new;
        ok(wait_for(sub { !LFTest::alive($new) }, 20), 'TERM stops the new one');
        LFTest::untrack($new);
    }
    ok(!-e $sock, 'which removes the socket file it took over');
    ok(!-s $both->dir . '/lf.pid', 'and the pidfile');
}

# ---- allowed_clients with unix sockets only ----
{
    my $t = LFTest->new(conf => { allowed_clients => [ '127.0.0.1' ] }, scripts => { 'hello.lua' => $hello });
    $t->start;
    ok($t->wait_log(qr/allowed_clients is set but every listen address is a unix socket/),
       'allowed_clients with only a unix socket warns that it does nothing');
    is($t->get('hello.lua')->{body}, 'allowed', 'and serves');
    is($t->stop, 0, 'stop');
}

# ---- the warning for an open port ----
my $po = free_port();
my $open = LFTest->new(conf => { listen => "0.0.0.0:$po" }, scripts => { 'hello.lua' => $hello });
$open->start;
ok($open->wait_log(qr/0\.0\.0\.0:$po is reachable from other hosts and allowed_clients is empty/),
   'a non-loopback TCP listen without allowed_clients warns at start');
is($open->stop, 0, 'stop');
done_testing;
