# A flood of hostile connections does not flood the log: the first
# LF_WIRE_LOG_BURST (100) a while are logged one by one, the rest counted
# and the count told once the while is over; the daemon serves on
# throughout.
# one build: the record layer and its log lines, all in C
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for closed_within);

my $t = LFTest->new(conf => { workers => 2 });
$t->script('ok.lua', "function main(env, req) req:puts('ok') end\n");
$t->start;
my $www = $t->www;

# a BEGIN_REQUEST of FastCGI version 2: refused, and logged
my $bad = pack('CCnnCC', 2, 1, 1, 8, 0, 0) . "\0" x 8;
sub refused { () = $t->log =~ /not FastCGI version 1; the connection is closed unanswered/g }

my $sent = 0;
for (1 .. 400) {
    my $s = $t->connect or last;
    LFTest::write_all($s, $bad) or last;
    $sent++ if closed_within($s, 5);
}
is($sent, 400, '400 connections with a bad record: each closed');
is($t->fcgi({ SCRIPT_FILENAME => "$www/ok.lua", REQUEST_METHOD => 'GET' }, '')->{stdout} =~ /ok$/ ? 1 : 0, 1,
   'a good request is served meanwhile');
my $lines = refused();
ok($lines >= 1 && $lines <= 120, "the log holds $lines of them, not 400");

# once the interval is over, the housekeeper tells how many were not
# logged (or the next one's line does)
my $told = wait_for(sub {
    my $log = $t->log;
    return $1 if $log =~ /(\d+) more connections were closed for what their clients sent/;
    return $1 if $log =~ /unanswered \(and (\d+) more such since, not logged\)/;
    return 0;
}, 25);
ok($told >= 400 - 120, "a later line tells those not logged ($told)");

# a second flood, and a stop before its interval is over: the stop tells
my $before = () = $t->log =~ /more connections were closed for what their clients sent/g;
for (1 .. 150) {
    my $s = $t->connect or last;
    LFTest::write_all($s, $bad) or last;
    closed_within($s, 5);
}
is($t->stop, 0, 'stop');
my $after = () = $t->log =~ /more connections were closed for what their clients sent/g;
ok($after > $before, 'the stop tells what the second flood left unsaid');
done_testing();
