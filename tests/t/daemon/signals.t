# Signals, the pidfile and the socket file.
# one build: the supervisor, its signals and hand-overs, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use LFTest qw(wait_for spew slurp);

my $counter = "n = 0\nfunction main(env, req) n = n + 1 req:puts(n) end\n";
my $slow = "function main(env, req) os.execute('sleep ' .. (env.SLEEP or '0.5')) req:puts('slow done') end\n";

my $t = LFTest->new(conf => { workers => 3 }, scripts => { 'n.lua' => $counter, 'slow.lua' => $slow });
$t->start;
my $pidfile = $t->dir . '/lf.pid';
my $sock = $t->listen_addr;
is(slurp($pidfile), $t->pid . "\n", 'the pidfile holds the daemon\'s pid');
ok(-S $sock, 'the socket exists');
is(sprintf('%o', (stat $sock)[2] & 07777), '660', 'with listen_mode 0660');

# a second instance on the same pidfile refuses, naming the pid
my $out = `${\ LFTest::binary()} -F ${\ $t->conf_path} 2>&1`;
is($? >> 8, 1, 'a second instance on the same pidfile exits 1');
like($out, qr/already running as pid ${\ $t->pid}/, 'and names the pid that holds it');
ok($t->can_connect, 'the first one is unharmed');

# HUP: new config applied, states flushed
is($t->get('n.lua')->{body}, '1', 'a state before HUP');
is($t->get('n.lua')->{body}, '2', 'its counter grows');
$t->write_conf(headers => "X-Reloaded: yes\n");
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP is logged');
my $r = $t->get('n.lua');
is($r->{headers}{'x-reloaded'}, 'yes', 'HUP applies the new config');
is($r->{body}, '1', 'HUP flushes the states: the script was loaded again');

# HUP with a bad config: the old one stays
spew($t->conf_path, "workers = = 2\n");
$t->signal('HUP');
ok($t->wait_log(qr/reload failed, keeping the running config: .*lf\.conf:1:/), 'a bad config on HUP is logged with file and line');
$r = $t->get('n.lua');
is($r->{status}, 200, 'and the daemon keeps serving');
is($r->{headers}{'x-reloaded'}, 'yes', 'with the config it had');
$t->write_conf;

# HUP while requests are in flight: none fails
{
    my @socks;
    for (1 .. 3) {
        my $s = $t->connect;
        LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/slow.lua',
                                                      REQUEST_METHOD => 'GET', SLEEP => '0.4' }, ''));
        push @socks, $s;
    }
    $t->signal('HUP');
    my @r = map { LFTest::read_response($_) } @socks;
    is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'slow done' } @r), 3,
       'HUP during three requests in flight: all three complete');
    is($t->get('n.lua')->{status}, 200, 'and the next request is served');

    @socks = ();
    for (1 .. 3) {
        my $s = $t->connect;
        LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/slow.lua',
                                                      REQUEST_METHOD => 'GET', SLEEP => '0.4' }, ''));
        push @socks, $s;
    }
    spew($t->conf_path, "workers = 'broken'\n");
    $t->signal('HUP');
    @r = map { LFTest::read_response($_) } @socks;
    is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'slow done' } @r), 3,
       'HUP with a bad config during three requests in flight: all three complete');
    ok($t->wait_log(qr/reload failed(?s:.*)reload failed/), 'and the bad config is logged');
    $t->write_conf;
}

# USR1: reopen the log after it was moved
rename($t->dir . '/lf.log', $t->dir . '/lf.log.1');
$t->signal('USR1');
ok(wait_for(sub { -e $t->dir . '/lf.log' && slurp($t->dir . '/lf.log') =~ /log reopened/ }),
   'USR1 reopens the log: a new file, written to');
$t->get('missing.lua');
ok($t->wait_log(qr/missing\.lua: 404/), 'later lines go to the new file');
unlike(slurp($t->dir . '/lf.log.1'), qr/missing\.lua/, 'not to the moved one');

# SIG with a slow request in flight: the request is answered; the serving
# process's pid, and the answer's body, are returned
sub slow_then {
    my ($sig) = @_;
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/slow.lua',
                                                  REQUEST_METHOD => 'GET', SLEEP => '2' }, ''));
    # long enough that a loaded machine's ps still sees it running
    my $serving = LFTest::serving_pid($t);
    ok(wait_for(sub { `ps -o args= --ppid $serving 2>/dev/null` =~ /sleep/ }), "$sig: a slow request is running");
    kill $sig, $t->pid;
    return ($serving, LFTest::read_response($s)->{body});
}

# TERM finishes the request in flight, then cleans up
{
    my ($serving, $body) = slow_then('TERM');
    is($body, 'slow done', 'TERM lets the request in flight finish');
    is($t->stop, 0, 'then the daemon exits 0');
    ok(!-e $sock, 'and removes its socket');
    ok(!-e $pidfile, 'and its pidfile');
    ok(!LFTest::alive($serving), 'and its serving process is gone');
    like($t->log, qr/stopped/, 'and logs that it stopped');
}

# INT stops too, even when started with INT ignored (as sh starts a job with &).
# Linux queues a blocked signal even when it is ignored; POSIX lets other
# systems discard it, which is why the daemon resets the disposition.
$t->start;
is($t->stop('INT'), 0, 'INT stops the daemon with status 0');
$t->start(ignore_int => 1);
is($t->stop('INT'), 0, 'INT stops a daemon that was started with INT ignored');

# QUIT, as nginx's and php-fpm's graceful stop, stops as TERM does
{
    $t->start;
    my ($serving, $body) = slow_then('QUIT');
    is($body, 'slow done', 'QUIT lets the request in flight finish');
    ok(wait_for(sub { !-e $pidfile && !LFTest::alive($serving) }, 15),
       'then the daemon stops of itself: its pidfile and serving process are gone');
    is($t->stop, 0, 'and it exited 0');
}

# a stale socket file is replaced; a live one is an error
{
    my $stale = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $sock, Listen => 1) or die $!;
    close $stale;   # the file stays, nobody listens
    ok(-S $sock, 'a stale socket file is left behind');
    $t->start;
    ok($t->can_connect, 'the daemon starts over a stale socket');
    like($t->log, qr/removed the stale socket/, 'and says so');

    my $other = LFTest->new(conf => { listen => $sock });
    $out = `${\ LFTest::binary()} -F ${\ $other->conf_path} 2>&1`;
    is($? >> 8, 1, 'a second daemon on a live socket exits 1');
    like($out, qr/another server is already listening on \Q$sock\E/, 'and says why');
    ok($t->can_connect, 'the live one is untouched');
    is($t->stop, 0, 'stop');
}

done_testing;
