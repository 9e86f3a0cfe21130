# daemonize = true: detach, pidfile, start-up errors before the parent exits.
# one build: the supervisor, its signals and hand-overs, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp alive);

my $t = LFTest->new(conf => { daemonize => 1 },
                    scripts => { 'hello.lua' => "function main(env, req) req:puts('daemon hello') end\n" });
my $pidfile = $t->dir . '/lf.pid';
my $out = `${\ LFTest::binary()} ${\ $t->conf_path} 2>&1`;
is($? >> 8, 0, 'started as a daemon, the command exits 0 once it serves');
my ($pid) = slurp($pidfile) =~ /^(\d+)$/;
ok($pid && alive($pid), 'the pidfile names a live process');
LFTest::track($pid, 'daemon') if $pid;
isnt($pid, $$, 'which is not the test');
is($t->get('hello.lua')->{body}, 'daemon hello', 'the daemon serves');
my $ppid = `ps -o ppid= -p $pid`;
$ppid =~ s/\s+//g;
isnt($ppid, $$, 'it is detached from the process that started it');
my $sid = `ps -o sid= -p $pid`;
$sid =~ s/\s+//g;
is($sid, $pid, 'in a session of its own');
$out = `${\ LFTest::binary()} ${\ $t->conf_path} 2>&1`;
is($? >> 8, 1, 'a second daemon on the same pidfile exits 1 before detaching');
like($out, qr/already running as pid $pid/, 'and names the pid holding the lock');
kill 'TERM', $pid;
ok(wait_for(sub { !alive($pid) }, 15), 'TERM stops it');
LFTest::untrack($pid);
ok(!-e $pidfile && !-e $t->listen_addr, 'and it removed its pidfile and socket');

# started by a relative config path: a HUP after the detach's chdir("/")
# still finds it
{
    my $r = LFTest->new(conf => { daemonize => 1 },
                        scripts => { 'hello.lua' => "function main(env, req) req:puts('rel') end\n" });
    my $bin = LFTest::binary();
    my $rc = system("cd ${\ $r->dir } && $bin lf.conf >/dev/null 2>&1");
    is($rc >> 8, 0, 'a daemon started with a relative config path');
    my ($rpid) = slurp($r->dir . '/lf.pid') =~ /^(\d+)$/;
    LFTest::track($rpid, 'daemon') if $rpid;
    kill 'HUP', $rpid;
    ok($r->wait_log(qr/reloaded \Q${\ $r->dir }\E\/lf\.conf/), 'reloads it on HUP, by its absolute path');
    unlike($r->log, qr/reload failed/, 'and no reload failed');
    kill 'TERM', $rpid;
    ok(wait_for(sub { !alive($rpid) }, 15), 'TERM stops it');
    LFTest::untrack($rpid);
}

# a failure after detaching still reaches the starting command
my $bad = LFTest->new(conf => { daemonize => 1, user => 'no-such-user-lf' });
$out = `${\ LFTest::binary()} ${\ $bad->conf_path} 2>&1`;
SKIP: {
    skip 'needs root to switch users', 2 unless $> == 0;
    is($? >> 8, 1, 'a start-up failure after detaching exits 1');
    like($out, qr/no such user 'no-such-user-lf'/, 'and its reason reaches stderr');
}
ok(wait_for(sub { !-e $bad->dir . '/lf.pid' }, 5), 'and leaves no pidfile');
done_testing;
