/* nop: a program that does nothing, built small and static. relay-check execs it in the peak
 * RSS benchmark so that the figure is relay-check's own: wait4 reports the largest memory of
 * the whole process, and /bin/true, dynamically linked, is bigger than relay-check. */
int main(void)
{
    return 0;
}
