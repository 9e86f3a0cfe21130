# daemonize = true: detach, pidfile, start-up errors before the parent exits.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
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
