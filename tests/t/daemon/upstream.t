# Three daemons behind one nginx upstream with kept connections, under a
# bounded load: one is killed with SIGKILL, one stopped with TERM and
# started again, one upgraded to a new binary with USR2. Every client
# request must get a correct answer; each host's share is reported.
# one build: the supervisor, its signals and hand-overs, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Copy qw(copy);
use IO::Socket::IP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use LFTest qw(free_port wait_for slurp spew alive);

plan skip_all => 'nginx is not installed' unless -x LFTest::nginx_binary();

my $LOAD_SECONDS = 10;      # the load lasts this long, or MAX_PER_CLIENT requests
my $MAX_PER_CLIENT = 1000;
my $CLIENTS = 4;

my $v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1) ? 1 : 0;
my @hosts = ('127.0.0.2', '127.0.0.3', $v6 ? '[::1]' : '127.0.0.4');
my $script = "function main(env, req) req:puts('ok ' .. req:config('listen')) end\n";

# one www for all (nginx's root), one daemon per host
my @d;
for my $i (0 .. 2) {
    my $port = free_port();
    push @d, LFTest->new(conf => {
        listen => "$hosts[$i]:$port", workers => 3, timeout => 20,
        allowed_clients => [ '127.0.0.0/8', '::1' ],
    }, scripts => { 'who.lua' => $script });
}
$_->script('who.lua', $script) for @d;

# the upgraded host runs a copy of the binary, replaced before USR2
my $bin = $d[2]->dir . '/luafcgid';
copy(LFTest::binary(), $bin) or die "copy: $!";
chmod 0755, $bin;
$d[0]->start;
$d[1]->start;
{ local $ENV{LUAFCGID} = $bin; $d[2]->start; }

# ---- nginx: an upstream of the three, kept connections -----------------------
# nginx names scripts in the first daemon's www (its root); all three read them there
my $nport;
ok(eval {
    $nport = $d[0]->start_nginx(
        keepalive => 16,
        servers => [ map { "$_->{conf}{listen} max_fails=1 fail_timeout=2s" } @d ],
        fastcgi => join(' ', 'fastcgi_next_upstream error timeout;', 'fastcgi_next_upstream_tries 0;',
                        'fastcgi_connect_timeout 2s;', 'fastcgi_read_timeout 30s;'));
    1 }, 'nginx is up in front of the three daemons') or BAIL_OUT($@);

# ---- the load ----------------------------------------------------------------
# CLIENTS clients on kept connections to nginx, each MAX requests paced
# over SECONDS; returns a handle for finish_load.
sub start_load {
    my ($seconds, $max) = @_;
    my $start = time;
    my $h = LFTest::start_clients($CLIENTS, sub {
        require HTTP::Tiny;
        my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
        my %share;
        my ($n, $bad, $worst, $why) = (0, 0, 0, '');
        while (time - $start < $seconds && $n < $max) {
            # paced over the whole load, so that it spans the events
            my $due = $start + $n * $seconds / $max;
            sleep($due - time) if $due > time;
            my $t0 = time;
            my $r = $http->get("http://127.0.0.1:$nport/who.lua");
            my $took = time - $t0;
            $worst = $took if $took > $worst;
            $n++;
            if ($r->{status} == 200 && $r->{content} =~ /^ok (\S+)$/) {
                $share{$1}++;
            } else {
                $bad++;
                $why ||= "$r->{status} $r->{content}";
            }
        }
        return join(' ', $n, $bad, sprintf('%.3f', $worst), map { "$_=$share{$_}" } sort keys %share)
             . ($why ? " | $why" : '') . "\n";
    });
    return { clients => $h, start => $start, seconds => $seconds };
}

# Wait for the clients; their totals, reported.
sub finish_load {
    my ($load) = @_;
    my @results = LFTest::wait_clients($load->{clients}, $load->{seconds} + 60);
    my ($total, $failed, $worst, %share) = (0, 0, 0);
    for my $line (@results) {
        if (!defined $line) { $failed++; next }
        my ($n, $bad, $w, @rest) = split ' ', $line;
        $total += $n;
        $failed += $bad;
        $worst = $w if $w > $worst;
        for (@rest) { last if $_ eq '|'; my ($h, $c) = split /=/; $share{$h} += $c }
        diag "client: $line" if $bad;
    }
    diag sprintf("%d requests in %.1f s, %d failed, longest wait %.3f s", $total, time - $load->{start},
                 $failed, $worst);
    diag sprintf("  %-24s %6d (%.1f%%)", $_, $share{$_}, 100 * $share{$_} / ($total || 1)) for sort keys %share;
    return ($total, $failed, \%share);
}

my $load = start_load($LOAD_SECONDS, $MAX_PER_CLIENT);
my $start = $load->{start};

sub at { my ($s) = @_; my $left = $start + $s - time; sleep $left if $left > 0 }

# 1: a host dies outright (its supervisor and its serving process)
at(2);
my $victim = LFTest::serving_pid($d[0]);
kill 'KILL', $d[0]->pid, $victim;
waitpid($d[0]->pid, 0);
LFTest::untrack($d[0]->pid);
$d[0]{pid} = undef;
ok(wait_for(sub { !alive($victim) }, 10), 'host 1 was killed with SIGKILL');

# 2: a host stops with TERM (it drains), and starts again
at(4);
is($d[1]->stop('TERM'), 0, 'host 2 stopped with TERM, exit 0');
$d[1]->start;
ok($d[1]->can_connect, 'and started again');

# 3: a host is upgraded to a new binary (a copy of this build)
at(6);
copy(LFTest::binary(), "$bin.new") or die "copy: $!";
chmod 0755, "$bin.new";
rename("$bin.new", $bin) or die "rename: $!";
my $old = $d[2]->pid;
$d[2]->signal('USR2');
ok($d[2]->wait_log(qr/the new binary serves as pid (\d+)/, 20), 'host 3: USR2 started the new binary');
my ($new) = $d[2]->log =~ /the new binary serves as pid (\d+)/;
LFTest::track($new, 'luafcgid (upgraded)') if $new;
my $st = LFTest::stop_pid($old, 0, 30);     # no signal: it exits by itself after draining
is($st, 0, 'the old supervisor drained and exited 0');
is(slurp($d[2]{conf}{pidfile}) =~ /^(\d+)/ ? $1 : '', $new, 'the pidfile names the new one');

my ($total, $failed, $share) = finish_load($load);
ok($total > 0, 'the clients made requests');
is($failed, 0, 'every request got a correct answer');
is(scalar(keys %$share), 3, 'all three hosts served a share');

# ---- HUP under load: states and workers change, nothing is lost --------------
$load = start_load(5, 400);
$start = $load->{start};
at(1);
$d[1]->write_conf(states => 5);
$d[1]->signal('HUP');
at(2);
$d[2]->write_conf(states => 4, workers => 2);
kill 'HUP', $new if $new;
at(3);
$d[1]->write_conf(states => 8, workers => 4);
$d[1]->signal('HUP');
($total, $failed, $share) = finish_load($load);
ok($total > 0, 'the clients made requests across three HUPs');
is($failed, 0, 'every request got a correct answer');
my @reloads = $d[1]->log =~ /reloaded/g;
is(scalar @reloads, 2, 'host 2 reloaded twice');
like($d[2]->log, qr/reloaded/, 'the upgraded host 3 reloaded');
like($d[1]->log, qr/'workers' changed; it takes effect after a restart/, 'a workers change says it needs a restart');

# ---- an upgrade to a binary that cannot start: the running one serves on -------
SKIP: {
    skip 'no upgraded daemon', 4 unless $new;
    spew("$bin.new", "#!/bin/sh\necho 'broken build' >&2\nexit 3\n");
    chmod 0755, "$bin.new";
    rename("$bin.new", $bin) or die "rename: $!";
    kill 'USR2', $new;
    ok($d[2]->wait_log(qr/the new binary exited with status 3 before serving; still serving with this one/, 20),
       'a new binary that fails says so, and the running one keeps serving');
    ok(alive($new), 'the running supervisor is still there');
    is(slurp($d[2]{conf}{pidfile}) =~ /^(\d+)/ ? $1 : '', $new, 'and the pidfile still names it');
    my $r = LFTest::http_get("http://127.0.0.1:$nport/who.lua");
    is($r->{status}, 200, 'requests are still served');
}

# ---- clean up: nginx, then the daemons ---------------------------------------
$d[0]->stop_nginx;
$d[1]->stop;
if ($new) {
    kill 'TERM', $new;
    ok(wait_for(sub { !alive($new) }, 20), 'the upgraded daemon stops with TERM');
    LFTest::untrack($new);
}
$d[2]{pid} = undef;
done_testing;
