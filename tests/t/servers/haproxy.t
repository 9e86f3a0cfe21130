# Through a real HAProxy (Debian's 2.6) with its own FastCGI client
# (`fcgi-app`), from a private config: `option keep-conn` and `option
# get-values` (HAProxy asks FCGI_GET_VALUES on every new connection and
# waits for the answer), then the same with `option mpxs-conns`, which the
# answer (FCGI_MPXS_CONNS 0) turns off, then `option mpxs-conns` without
# get-values (a second request on a busy connection would get
# FCGI_CANT_MPX_CONN; tests/t/fcgi/protocol.t checks that). Each run: LFServers'
# suite, an escaped cookie, HAProxy's kept connections counted, and 200
# requests (every fifth a 100 kB POST) from 8 concurrent clients, every
# answer checked.
# one build: what the web server sends and how it keeps its connections, answered by the FastCGI layer in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(http_get http_post wait_for);
use LFServers;

plan skip_all => 'haproxy is not installed (tools/deps --test installs it)' unless LFServers::haproxy_binary();

my $lfport = LFTest::free_port();
my $t = LFTest->new(conf => { workers => 4, keepalive_max => 16, keepalive_timeout => 60,
                              maxpost => 2 * 1024 * 1024, listen => "127.0.0.1:$lfport" });
LFServers::scripts($t);
$t->start;
LFServers::idle_sockets($t);
my $serving = LFTest::serving_pid($t);

# Established TCP connections to luafcgid's port, from /proc/net/tcp.
sub connections_to_luafcgid {
    my $hex = sprintf('%04X', $lfport);
    my $n = 0;
    for my $line (split /\n/, LFTest::slurp('/proc/net/tcp')) {
        my @f = split ' ', $line;
        $n++ if @f > 3 && $f[2] =~ /:$hex$/ && $f[3] eq '01';
    }
    return $n;
}

for my $run (['get-values', 'keep-conn', 'get-values'],
             ['mpxs-conns', 'keep-conn', 'get-values', 'mpxs-conns'],
             ['mpxs-conns-alone', 'keep-conn', 'mpxs-conns']) {
    my ($name, @options) = @$run;
    my ($pid, $port, $out) = LFServers::start_haproxy($t, name => $name, server => "127.0.0.1:$lfport",
                                                      options => \@options);
    my $url = sub { "http://127.0.0.1:$port$_[0]" };

    LFServers::suite($t, $url->(''), label => $name, keeps => 1,
                     skip => { chunked => 'HAProxy answers a chunked request body with its own 400 page' });
    my $r = http_get($url->('/hdr.lua'), headers => { Cookie => 'a=c%20x; b=two' });
    is("$r->{status} $r->{content}", '200 c x,two', "$name: an escaped cookie reaches the script decoded");
    is($r->{headers}{'set-cookie'}, 'back=c x; Path=/', "$name: and is set back");

    # kept connections: sequential requests reuse what is open (the suite's
    # concurrent clients may have left one per client idle in HAProxy's
    # pool), rather than one connection each
    my $before = connections_to_luafcgid();
    my $ok = grep { http_get($url->("/id.lua?seq$_"))->{content} eq "seq$_" } 1 .. 30;
    is($ok, 30, "$name: 30 sequential requests answered");
    my $kept = connections_to_luafcgid();
    ok($kept >= 1 && $kept <= $before + 2,
       "$name: HAProxy keeps its connections to luafcgid ($before open before, $kept after 30 requests)");

    # 200 requests from 8 concurrent clients, every answer checked
    my $c = LFTest::start_clients(8, sub {
        my ($k) = @_;
        my $good = 0;
        for my $i (1 .. 25) {
            my $q = "c${k}r$i";
            my $res = $i % 5 == 0 ? http_post($url->("/post.lua"), $LFServers::BIG)
                                  : http_get($url->("/id.lua?$q"));
            my $want = $i % 5 == 0 ? '102400 same' : $q;
            $good++ if $res->{status} == 200 && $res->{content} eq $want;
        }
        return $good;
    });
    my @good = LFTest::wait_clients($c, 120);
    my $sum = 0;
    $sum += $_ for grep { $_ > 0 } @good;
    is($sum, 200, "$name: 200 requests from 8 concurrent clients, every answer right");
    is(LFTest::serving_pid($t), $serving, "$name: the serving process is the same");
    LFServers::stop_server($pid, 'TERM');
    unlike(LFTest::slurp($out), qr/\b(?:Server .* is DOWN|FCGI.*error)/i, "$name: HAProxy logged no FastCGI error");
}
unlike($t->log, qr/out of sequence|died of/, 'luafcgid refused no record');
is($t->stop, 0, 'stop');
done_testing();
