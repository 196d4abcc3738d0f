# %%
import numpy as np

# %%
L = np.random.random(100)
sum(L)

# %%
np.sum(L)

# %%
big_array = np.random.rand(1000000)
%timeit sum(big_array)
%timeit np.sum(big_array)

# %%
min(big_array), max(big_array)

# %%
np.min(big_array), np.max(big_array)

# %%
%timeit min(big_array)
%timeit np.min(big_array)

# %%
print(big_array.min(), big_array.max(), big_array.sum())

# %%
M = np.random.random((3, 4))
print(M)

# %%
M.sum()

# %%
M.min(axis=0)

# %%
M.max(axis=1)

# %%
!head -4 data/president_heights.csv

# %%
import pandas as pd
data = pd.read_csv('data/president_heights.csv')
heights = np.array(data['height(cm)'])
print(heights)

# %%
print("Mean height:       ", heights.mean())
print("Standard deviation:", heights.std())
print("Minimum height:    ", heights.min())
print("Maximum height:    ", heights.max())

# %%
print("25th percentile:   ", np.percentile(heights, 25))
print("Median:            ", np.median(heights))
print("75th percentile:   ", np.percentile(heights, 75))

# %%
%matplotlib inline
import matplotlib.pyplot as plt
import seaborn; seaborn.set()  # set plot style

# %%
plt.hist(heights)
plt.title('Height Distribution of US Presidents')
plt.xlabel('height (cm)')
plt.ylabel('number');
