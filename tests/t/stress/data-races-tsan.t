# The concurrent scenarios again, on the daemon built with ThreadSanitizer:
# clones, eviction churn, edits under the housekeeper, kept connections,
# HUP and TERM under load, and a TERM that cuts a request short. Any
# report fails the test.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp http_get);

my $tsan = $ENV{LUAFCGID_TSAN};
plan skip_all => 'no ThreadSanitizer build (LUAFCGID_TSAN)' unless $tsan && -x $tsan;
$ENV{LUAFCGID} = $tsan;

my $t = LFTest->new(conf => { workers => 4, states => 6, clones => 3, sweep => 20, jitter => 10 });
my $reports = $t->dir . '/tsan';
$ENV{TSAN_OPTIONS} = "halt_on_error=0 second_deadlock_stack=1 log_path=$reports "
                   . "suppressions=" . LFTest::top() . "/tests/tsan.supp";

my $counter = "n = 0\nfunction main(env, req) n = n + 1 req:puts(env.QUERY_STRING, ' ', n) end\n";
$t->script("s$_.lua", $counter) for 1 .. 8;
$t->script('slow.lua', "function main(env, req) os.execute('sleep 0.05') req:puts(env.QUERY_STRING, ' slow') end\n");
# long enough that the requests are still running when TERM is sent, however loaded the machine
$t->script('inflight.lua', "function main(env, req) os.execute('sleep 1') req:puts(env.QUERY_STRING, ' slow') end\n");
$t->start;
my $port = $t->start_nginx(keepalive => 8);   # kept connections too

# clients hammer 9 scripts over 6 states while the main test edits and HUPs
sub clients {
    my ($n, $each) = @_;
    return LFTest::start_clients($n, sub {
        my ($c) = @_;
        my $bad = 0;
        for my $i (1 .. $each) {
            my $name = $i % 7 == 0 ? 'slow' : 's' . (1 + ($c * 31 + $i) % 8);
            my $q = "c${c}i$i";
            my $r = http_get($t->nginx_url("/$name.lua?$q"), timeout => 30);
            $bad++ unless $r->{status} == 200 && $r->{content} =~ /^\Q$q\E /;
        }
        return $bad;
    });
}

sub reap {
    my $bad = 0;
    $bad += $_ // 1000 for LFTest::wait_clients($_[0], 120);
    return $bad;
}

my $clients = clients(8, 40);
for my $round (1 .. 5) {
    $t->script("s$round.lua", $counter . "-- edit $round\n");
    $t->signal('HUP') if $round % 2;
    select(undef, undef, undef, 0.1);
}
is(reap($clients), 0, 'TSan build: 8 clients x 40 requests with eviction, edits and HUPs: every answer right');

# TERM with requests in flight
my @socks;
for (1 .. 4) {
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/inflight.lua',
                                                  REQUEST_METHOD => 'GET', QUERY_STRING => "t$_" }, ''));
    push @socks, $s;
}
ok(wait_for(sub { `ps -o args= --ppid ${\ LFTest::serving_pid($t)}` =~ /sleep 1/ }), 'requests in flight');
$t->stop_nginx;
kill 'TERM', $t->pid;
my @r = map { LFTest::read_response($_) } @socks;
is(scalar(grep { $_->{body} =~ /^t\d slow$/ } @r), 4, 'TERM under the TSan build finishes the requests in flight');
is($t->stop, 0, 'and exits 0');

my @files = glob("$reports.*");
my $text = join('', map { slurp($_) } @files);
is(scalar(() = $text =~ /WARNING: ThreadSanitizer/g), 0, 'ThreadSanitizer reported nothing')
    or diag(substr($text, 0, 6000));

# TERM with a request that outruns the stop's bound (reading a body the client never
# sends, on the client's clock): the daemon exits without it, on purpose, and leaves
# its threads to the exit; ThreadSanitizer must see that as deliberate, not as
# threads nobody joined.
{
    my $u = LFTest->new(conf => { workers => 1, timeout => 1, upload_memory => 1024, client_timeout => 60 });
    my $out = $u->dir . '/tsan';
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$out suppressions=" . LFTest::top() . '/tests/tsan.supp';
    my $flag = $u->dir . '/reading';
    $u->script('reader.lua', "function main(env, req) local f = io.open(env.FLAG, 'w') f:close() "
                           . "req:read(65536) req:puts('read') end\n");
    $u->start;
    my $s = $u->connect;
    my $head = LFTest::encode_request({ SCRIPT_FILENAME => $u->www . '/reader.lua', REQUEST_METHOD => 'POST',
                                        CONTENT_LENGTH => '100000', FLAG => $flag }, 'x' x 9000);   # over 8 kB: a worker takes it unwhole
    $head =~ s/\x01\x05\x00\x01\x00\x00\x00\x00\z//;     # no end of the body: the client goes quiet
    LFTest::write_all($s, $head);
    ok(wait_for(sub { -e $flag }, 30), 'TSan build: a request waits on a client that sends nothing');
    is($u->stop('TERM'), 0, 'TERM cuts it short past the bound and exits 0');
    like($u->log, qr/stop: 1 requests still running/, 'and logs what it cut short');
    unlike($u->log, qr/exited with status/, 'the serving process exited 0 too');
    my $cut = join('', map { slurp($_) } glob("$out.*"));
    is(scalar(() = $cut =~ /WARNING: ThreadSanitizer/g), 0, 'ThreadSanitizer reported nothing (no thread leak)')
        or diag(substr($cut, 0, 6000));
}
done_testing;
