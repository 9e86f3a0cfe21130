# A bounded libFuzzer pass over each of our parsers, from the corpus kept
# in tests/fuzz/corpus (new finds go to a temp dir, not the tree), and the
# string library against the stock one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use Test::More;
use LFTest ();

my $top = LFTest::top();
my $seconds = $ENV{LF_FUZZ_SECONDS} || 10;
plan skip_all => 'clang with libFuzzer is not installed' unless `which clang 2>/dev/null`;
my $out = `make -s -C $top fuzzers 2>&1`;
plan skip_all => "the fuzzers do not build here:\n$out" if $?;

for my $name (qw(conf header params module strlib multipart)) {
    my $work = tempdir(CLEANUP => 1);
    my $run = `cd $work && $top/tests/fuzz/fuzz_$name -max_total_time=$seconds -timeout=10 -rss_limit_mb=2048 $work $top/tests/fuzz/corpus/$name 2>&1`;
    my ($execs) = $run =~ /stat::number_of_executed_units:\s*(\d+)/;
    ($execs) = $run =~ /#(\d+)\s+DONE/ unless $execs;
    is($? >> 8, 0, "fuzz_$name: no crash, leak or timeout in $seconds s (" . ($execs // '?') . ' runs)')
        or diag(substr($run, -3000));
}
done_testing;
