# New connections wait their turn with kept ones, not behind them: with
# every worker busy and forty kept connections (FCGI_KEEP_CONN) sending
# their next request as soon as the last is answered, a request on a new
# connection waits about as long as one on a kept connection (p99 at most
# 3x), directly and through nginx (keepalive 8, fastcgi_keep_conn on, a
# load at c24 and a client that opens a connection per request beside it).
# Scripts sleep 2-24 ms (LuaSocket's sleep), so the load is the workers'
# time, not the machine's CPU; both kinds are measured in the same run,
# so a loaded machine slows both alike.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp);
use LFLoad;

my $sleeper = "local socket = require 'socket'\n"
            . "function main(env, req)\n"
            . "  local ms = tonumber(env.QUERY_STRING:match('^%d+')) or math.random(2, 24)\n"
            . "  socket.sleep(ms / 1000)\n"
            . "  req:puts('ok ', env.QUERY_STRING)\n"
            . "end\n";

# ---- directly: 40 kept clients, 4 that connect for each request ------------
# on the plain build and on the ThreadSanitizer build
sub direct {
    my ($label, %env) = @_;
    local @ENV{keys %env} = values %env;
    my $t = LFTest->new(conf => { workers => 4, keepalive_max => 100 }, scripts => { 'sleep.lua' => $sleeper });
    my $reports = $t->dir . '/tsan';
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$reports suppressions=" . LFTest::top() . '/tests/tsan.supp';
    $t->start;
    my $script = $t->www . '/sleep.lua';
    # until 150 requests on new connections were answered, 30 s at most
    # (the kept clients' first requests are 40 of them)
    my $r = LFLoad::run(
        connect => sub { $t->connect },
        kept => 40, fresh => 4, seconds => 30, drain => 30,
        enough => sub { @{ $_[0]{fresh} } >= 150 && @{ $_[0]{kept} } >= 600 },
        params => sub {
            my ($c, $n) = @_;
            my $q = (2 + ($c * 7 + $n * 13) % 23) . "-$c-$n";
            return [ { SCRIPT_FILENAME => $script, REQUEST_METHOD => 'GET', QUERY_STRING => $q }, '', "ok $q" ];
        });
    diag("$label: " . LFLoad::summary($r));
    diag($_) for @{ $r->{errors} };
    is($r->{bad} + $r->{unanswered}, 0, "$label: every request of 40 kept and 4 new-connection clients was answered right");
    ok(@{ $r->{fresh} } >= 150, "$label: " . scalar(@{ $r->{fresh} }) . ' requests on new connections were answered meanwhile');
    my ($pk, $pf) = (LFLoad::percentile(99, @{ $r->{kept} }), LFLoad::percentile(99, @{ $r->{fresh} }));
    ok($pf <= 3 * $pk, sprintf("$label: a request on a new connection waits its turn: p99 %.3f s, kept ones %.3f s", $pf, $pk));
    is($t->stop, 0, "$label: stops");
    return unless %env;
    my $text = join('', map { slurp($_) } glob("$reports.*"));
    is(scalar(() = $text =~ /WARNING: ThreadSanitizer/g), 0, "$label: no ThreadSanitizer report")
        or diag(substr($text, 0, 6000));
}

direct('plain build');
SKIP: {
    skip 'no ThreadSanitizer build (LUAFCGID_TSAN)', 5 unless $ENV{LUAFCGID_TSAN} && -x $ENV{LUAFCGID_TSAN};
    direct('TSan build', LUAFCGID => $ENV{LUAFCGID_TSAN});
}

# ---- through nginx: keepalive 8, a load at c24, a new client beside it -----
SKIP: {
    skip 'nginx is not installed', 6 unless -x LFTest::nginx_binary();
    skip 'wrk is not installed', 6 unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};
    my $t = LFTest->new(conf => { workers => 4 }, scripts => { 'sleep.lua' => $sleeper });
    $t->start;
    my $port = $t->start_nginx(keepalive => 8);
    my $url = "http://127.0.0.1:$port/sleep.lua";
    my $seconds = 8;
    my $wrk = LFTest::start_clients(1, sub { scalar `wrk -t2 -c24 -d${seconds}s --latency $url 2>&1` });
    # beside it, three clients open a connection per request (as curl does)
    # until the load ends, after it has started
    wait_for(sub { `pgrep -P $wrk->{pids}[0] wrk` }, 5);
    my $start = time;
    my @side = LFTest::wait_clients(LFTest::start_clients(3, sub {
        my @lat;
        while (time < $start + $seconds - 1.5) {
            my $t0 = time;
            my $res = LFTest::http_get($url, timeout => 30);
            return "bad $res->{status}\n" unless $res->{status} == 200 && $res->{content} =~ /^ok /;
            push @lat, time - $t0;
        }
        return join(' ', @lat) . "\n";
    }), $seconds + 40);
    my ($out) = LFTest::wait_clients($wrk, $seconds + 40);
    $out //= '';
    my @lat = map { defined $_ && /^[\d. ]+$/ ? split(' ', $_) : () } @side;
    my $bad = grep { !defined $_ || /^bad/ } @side;
    my ($wrk99, $unit) = $out =~ /^\s+99%\s+([\d.]+)(us|ms|s)\b/m;
    $wrk99 = defined $wrk99 ? $wrk99 / { us => 1e6, ms => 1e3, s => 1 }->{$unit} : 0;
    my ($errors) = $out =~ /(Non-2xx.*|Socket errors.*)/;
    my $p99 = LFLoad::percentile(99, @lat);
    diag(sprintf('through nginx: wrk c24 p99 %.3f s; %d requests on new connections beside it, p99 %.3f s, max %.3f s',
                 $wrk99, scalar @lat, $p99, LFLoad::percentile(100, @lat)));
    is($bad, 0, 'through nginx, the new clients beside the load got every answer') or diag(join '', map { $_ // "unfinished\n" } @side);
    ok(!$errors && $wrk99 > 0, 'and the load got every answer') or diag($out);
    ok(@lat >= 30, scalar(@lat) . ' requests on new connections beside the load');
    ok($p99 <= 3 * $wrk99, sprintf('each waited its turn: p99 %.3f s, the load %.3f s', $p99, $wrk99));
    unlike(slurp($t->dir . '/nginx/error.log'), qr/\[error\]/, 'nginx logged no upstream error');
    $t->stop_nginx;
    is($t->stop, 0, 'stops');
}

done_testing;
